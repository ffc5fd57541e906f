/**
 * A time-driven duty of the engine (compare River's maintenance services and Oban's plugins): one
 * file each, registered when the engine opens. Every process starts and stops every service; ticks
 * of a leader-only service run only on the process that leads the store.
 */
export interface Service {
  readonly name: string;
  readonly runsOn: "leader" | "everywhere";
  /** Once, when the engine opens, after recovery. */
  start?(): Promise<void>;
  /** Every maintenance interval, on the engine's clock. */
  tick?(now: number): Promise<void>;
  /** Once, when the engine closes; resolves when work under way is done. */
  stop?(): Promise<void>;
}
