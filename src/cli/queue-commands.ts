/** `wharf queues get|set|pause|resume`: a queue's settings on a server. */
import type { QueuePatch } from "../engine/queue-settings.js";
import { UnprocessableError } from "../errors.js";
import { remote, type RemoteOptions } from "./commands.js";
import { UsageError } from "./usage.js";

export function get(queue: string, options: RemoteOptions): Promise<void> {
  return remote(options, async (wharf, out) => out.record(await wharf.getQueue(queue)));
}

export function pause(paused: boolean, queue: string, options: RemoteOptions): Promise<void> {
  return remote(options, async (wharf, out) => out.record(await (paused ? wharf.pauseQueue(queue) : wharf.resumeQueue(queue))));
}

/** NAME=VALUE pairs, each VALUE JSON (`null` resets the setting); the server says which names and values it takes. */
export function set(queue: string, assignments: string[], options: RemoteOptions): Promise<void> {
  const patch: Record<string, unknown> = {};
  for (const assignment of assignments) {
    const equals = assignment.indexOf("=");
    if (equals <= 0) throw new UsageError(`SETTING: expected NAME=VALUE, got ${JSON.stringify(assignment)}`);
    const value = assignment.slice(equals + 1);
    try {
      patch[assignment.slice(0, equals)] = JSON.parse(value);
    } catch {
      throw new UsageError(`SETTING: ${assignment.slice(0, equals)}'s value must be JSON (true, 3, null, "text"), got ${value}`);
    }
  }
  return remote(options, async (wharf, out) => {
    try {
      out.record(await wharf.patchQueue(queue, patch as QueuePatch));
    } catch (error) {
      // Settings the server cannot apply together (key expressions that differ) are bad arguments here, as unknown ones are.
      throw error instanceof UnprocessableError ? new UsageError(`SETTING: ${error.message}`) : error;
    }
  });
}
