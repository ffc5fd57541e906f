import type { Engine } from "../engine/engine.js";
import { handleApi } from "../http/api.js";
import type { WharfEvent } from "../engine/events.js";
import { JobChannel, searchParams, type EventsRequest, type EventStream, type QueryValue, type TakeRequest, type TakeStream, type Transport, type TransportResponse } from "./transport.js";

/**
 * Runs the API against an engine in this process: the same handlers the HTTP
 * server uses, with no sockets or encoding. Values cross by copy, so callers
 * can never reach into the engine's own objects.
 */
export class LocalTransport implements Transport {
  constructor(private readonly engine: Engine, private readonly closeEngine: boolean) {}

  async request(method: string, path: string, query?: Record<string, QueryValue>, body?: unknown): Promise<TransportResponse> {
    const request = { method, path, query: searchParams(query), body: body === undefined ? undefined : structuredClone(body) };
    const response = await handleApi(this.engine, request);
    if (response.kind === "take") throw new Error(`${method} ${path} answered with a stream; use take()`);
    if (response.kind === "events") throw new Error(`${method} ${path} answered with a stream; use events()`);
    if (response.kind === "metrics") throw new Error(`${method} ${path} is served over HTTP only`);
    return { status: response.status, body: response.body === undefined ? undefined : structuredClone(response.body) };
  }

  take(request: TakeRequest): TakeStream {
    const channel = new JobChannel();
    const subscription = this.engine.take(request, (jobs) => channel.push(structuredClone(jobs)), request.onControl);
    return {
      [Symbol.asyncIterator]: () => channel[Symbol.asyncIterator](),
      close: () => {
        channel.end();
        return subscription.close();
      },
    };
  }

  events({ filter, after }: EventsRequest): EventStream {
    const channel = new JobChannel<WharfEvent>();
    const stop = this.engine.watchEvents(filter, after, (events) => channel.push(structuredClone(events)));
    return {
      [Symbol.asyncIterator]: () => channel[Symbol.asyncIterator](),
      opened: Promise.resolve(),
      close: async () => {
        stop();
        channel.end();
      },
    };
  }

  async close(): Promise<void> {
    if (this.closeEngine) await this.engine.close();
  }
}
