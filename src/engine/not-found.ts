/**
 * The engine's answers for what does not exist, in one place: a caller limited to some queues
 * (src/http/queue-view.ts) gets the very same answer for what exists outside them.
 */
import { NotFoundError } from "../errors.js";

export const jobNotFound = (id: string): NotFoundError => new NotFoundError(`job ${id} not found`);

export const workflowNotFound = (id: string): NotFoundError => new NotFoundError(`workflow ${id} not found`);

export const takeStreamNotOpen = (id: string): NotFoundError => new NotFoundError(`take stream ${id} is not open`);

