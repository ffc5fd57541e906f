/** `wharf tail`: follows the server's events (GET /events), as JSON lines or, on a terminal, one line each. */
import type { Client } from "../client/client.js";
import { EVENT_KINDS, isEventKind, type EventKind, type WharfEvent } from "../engine/events.js";
import { localTime, type Output } from "./output.js";
import { UsageError } from "./usage.js";

export interface TailOptions {
  queue?: string[];
  type?: string[];
  kind?: string[];
  after?: string;
  /** Stop after this many events. */
  count?: number;
}

function kindsOf(kinds: string[] | undefined): EventKind[] | undefined {
  const unknown = kinds?.find((kind) => !isEventKind(kind));
  if (unknown !== undefined) throw new UsageError(`--kind: unknown event kind "${unknown}" (kinds: ${EVENT_KINDS.join(", ")})`);
  return kinds as EventKind[] | undefined;
}

/** 12:00:01  job.completed  emails  welcome  03hc...  completed  attempts 1 */
function eventLine(event: WharfEvent): string {
  const { job } = event;
  const about = job ? [job.queue, job.type, job.id, job.status, `attempts ${job.attempts}`] : [event.queue ?? "", event.server];
  const error = event.error ? [`(${event.error.error_type ?? "error"}: ${event.error.message.split("\n")[0]!})`] : [];
  return [localTime(event.time).slice(11), event.kind.padEnd(14), ...about, ...error].join("  ").trimEnd();
}

/** Follows events until `--count` of them have been printed, the server goes away (exit 1), or the process is stopped. */
export async function tail(wharf: Client, out: Output, options: TailOptions): Promise<void> {
  const kinds = kindsOf(options.kind);
  const stream = wharf.events({
    ...(options.queue ? { queues: options.queue } : {}),
    ...(options.type ? { types: options.type } : {}),
    ...(kinds ? { kinds } : {}),
    ...(options.after === undefined ? {} : { after: options.after }),
  });
  const stop = (): void => void stream.close();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  let printed = 0;
  try {
    for await (const event of stream) {
      if (out.json) out.record(event);
      else process.stdout.write(`${eventLine(event)}\n`);
      if (options.count !== undefined && ++printed >= options.count) break;
    }
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    await stream.close();
  }
}
