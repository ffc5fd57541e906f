/**
 * `wharf top`: a live view of the server in the terminal (the alternate screen, like `zizq top`),
 * refreshed every --refresh-ms and on every key. What it shows is src/cli/top/screen.ts; this file
 * reads the server, handles keys and draws.
 */
import { emitKeypressEvents, type Key } from "node:readline";
import type { Client } from "../../client/client.js";
import type { Job, JobStatus } from "../../job/types.js";
import { VERSION } from "../../version.js";
import { retryJob } from "../commands.js";
import { UsageError } from "../usage.js";
import { renderTop, TABS, type TopView } from "./screen.js";

export interface TopOptions {
  url: string;
  refreshMs: number;
}

/** Jobs of a tab read per refresh, at most. */
const LIST_LIMIT = 500;
const STATUSES: JobStatus[] = ["blocked", "scheduled", "ready", "in_flight", "completed", "dead"];

function matches(job: Job, search: string): boolean {
  return search === "" || [job.id, job.queue, job.type].some((text) => text.includes(search));
}

class Top {
  private readonly view: TopView;
  private all: Job[] = [];
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> = Promise.resolve();
  private finished!: () => void;

  constructor(private readonly wharf: Client, private readonly options: TopOptions) {
    this.view = {
      url: options.url, clientVersion: VERSION, serverVersion: undefined, uptimeSeconds: undefined, counts: {}, tab: 0, jobs: [], cursor: 0,
      detail: undefined, showDetail: false, search: "", mode: { kind: "list" }, message: "", now: Date.now(),
    };
  }

  run(): Promise<void> {
    const done = new Promise<void>((resolve) => (this.finished = resolve));
    process.stdout.write("\x1b[?1049h\x1b[?25l");
    emitKeypressEvents(process.stdin);
    process.stdin.setRawMode(true);
    process.stdin.on("keypress", this.onKey);
    process.stdout.on("resize", this.draw);
    this.refresh();
    this.timer = setInterval(() => this.refresh(), this.options.refreshMs);
    return done;
  }

  private quit(): void {
    clearInterval(this.timer);
    process.stdin.off("keypress", this.onKey);
    process.stdout.off("resize", this.draw);
    process.stdin.setRawMode(false);
    process.stdin.pause();
    process.stdout.write("\x1b[?25h\x1b[?1049l");
    this.finished();
  }

  /** One refresh at a time; a refresh asked for meanwhile runs after it. */
  private refresh(): void {
    this.refreshing = this.refreshing.then(() => this.read()).then(this.draw, (error: unknown) => {
      this.view.message = `cannot read the server: ${(error as Error).message}`;
      this.draw();
    });
  }

  private async read(): Promise<void> {
    const status = TABS[this.view.tab]!.status;
    const [version, counts, page] = await Promise.all([
      this.wharf.transport.request("GET", "/version"),
      Promise.all(STATUSES.map((each) => this.wharf.countJobs({ status: each }))),
      this.wharf.listPage({ status, pageSize: LIST_LIMIT, order: status === "dead" ? "desc" : "asc" }),
    ]);
    const about = version.body as { version?: string; uptime_s?: number };
    this.view.serverVersion = about.version;
    this.view.uptimeSeconds = about.uptime_s;
    this.view.counts = Object.fromEntries(STATUSES.map((each, index) => [each, counts[index]!]));
    this.all = page.jobs as Job[];
    this.view.now = Date.now();
    this.select();
  }

  /** The tab's jobs that pass the search, the cursor kept on the same job where it still is. */
  private select(): void {
    const selected = this.view.jobs[this.view.cursor]?.id;
    this.view.jobs = this.all.filter((job) => matches(job, this.view.search));
    const kept = selected === undefined ? -1 : this.view.jobs.findIndex((job) => job.id === selected);
    this.view.cursor = kept >= 0 ? kept : Math.min(this.view.cursor, Math.max(0, this.view.jobs.length - 1));
    this.view.detail = this.view.jobs[this.view.cursor];
  }

  private readonly draw = (): void => {
    const lines = renderTop(this.view, process.stdout.columns ?? 80, process.stdout.rows ?? 24);
    process.stdout.write(`\x1b[H${lines.join("\r\n")}`);
  };

  private readonly onKey = (text: string | undefined, key: Key | undefined): void => {
    if (key?.ctrl && key.name === "c") return this.quit();
    const mode = this.view.mode;
    if (mode.kind === "search") this.searchKey(mode.typed, text, key);
    else if (mode.kind === "confirm-delete") void this.confirmDelete(mode.id, text);
    else this.listKey(text, key);
    this.draw();
  };

  private listKey(text: string | undefined, key: Key | undefined): void {
    const page = Math.max(1, (process.stdout.rows ?? 24) - 8);
    const move = (to: number): void => {
      this.view.cursor = Math.max(0, Math.min(this.view.jobs.length - 1, to));
      this.view.detail = this.view.jobs[this.view.cursor];
    };
    switch (key?.name ?? text) {
      case "q":
        return this.quit();
      case "tab":
        this.view.tab = (this.view.tab + (key?.shift ? TABS.length - 1 : 1)) % TABS.length;
        this.view.cursor = 0;
        this.view.jobs = [];
        return this.refresh();
      case "up":
        return move(this.view.cursor - 1);
      case "down":
        return move(this.view.cursor + 1);
      case "pageup":
        return move(this.view.cursor - page);
      case "pagedown":
        return move(this.view.cursor + page);
      case "home":
        return move(0);
      case "end":
        return move(this.view.jobs.length - 1);
    }
    if (text === "g") move(0);
    else if (text === "G") move(this.view.jobs.length - 1);
    else if (text === "i") this.view.showDetail = !this.view.showDetail;
    else if (text === "/") this.view.mode = { kind: "search", typed: this.view.search };
    else if (text === "r") void this.act("retried", (job) => retryJob(this.wharf, job));
    else if (text === "d" && this.view.detail) this.view.mode = { kind: "confirm-delete", id: this.view.detail.id };
  }

  private searchKey(typed: string, text: string | undefined, key: Key | undefined): void {
    if (key?.name === "escape") {
      this.view.search = "";
      this.view.mode = { kind: "list" };
    } else if (key?.name === "return") {
      this.view.search = typed;
      this.view.mode = { kind: "list" };
    } else if (key?.name === "backspace") {
      this.view.mode = { kind: "search", typed: typed.slice(0, -1) };
      return;
    } else if (text !== undefined && text.length === 1 && text >= " ") {
      this.view.mode = { kind: "search", typed: typed + text };
      return;
    }
    this.select();
  }

  private async confirmDelete(id: string, text: string | undefined): Promise<void> {
    this.view.mode = { kind: "list" };
    if (text !== "y") {
      this.view.message = `kept job ${id}`;
      return;
    }
    await this.act("deleted", () => this.wharf.deleteJob(id), id);
  }

  /** Runs an action on the job under the cursor (or `id`), says how it went, and reads the server again. */
  private async act(done: string, action: (job: Job) => Promise<unknown>, id = this.view.detail?.id): Promise<void> {
    const job = this.all.find((each) => each.id === id);
    if (!job) return;
    try {
      const outcome = (await action(job)) as { as?: { id: string } } | undefined;
      this.view.message = `${done} job ${job.id}${outcome?.as ? `, enqueued afresh as ${outcome.as.id}` : ""}`;
    } catch (error) {
      this.view.message = `could not act on job ${job.id}: ${(error as Error).message}`;
    }
    this.refresh();
  }
}

export async function top(wharf: Client, options: TopOptions): Promise<void> {
  if (!process.stdin.isTTY || !process.stdout.isTTY) throw new UsageError("wharf top needs a terminal: run it with stdin and stdout on one (not in a pipe)");
  await new Top(wharf, options).run();
}
