/**
 * The commands, arguments and options of `wharf`: one definition behind parsing, `--help`, the
 * suggestions on typos and the README's CLI reference (src/cli/reference.ts).
 */
import { Argument, Command, Option } from "commander";
import { UNIQUE_SCOPES, type EnqueueInput } from "../job/types.js";
import { LOG_LEVELS } from "../log-level.js";
import { VERSION } from "../version.js";
import * as run from "./commands.js";
import * as cron from "./cron-commands.js";
import * as queueCommands from "./queue-commands.js";
import * as tlsCommands from "./tls-commands.js";
import * as signingCommands from "./signing-commands.js";
import * as tokenCommands from "./token-commands.js";
import * as tailCommand from "./tail-command.js";
import * as topCommand from "./top/top.js";
import { WORKER_COLUMNS } from "./output.js";
import { SCOPES } from "../http/identity.js";
import {
  backoff,
  fileName,
  commonName,
  retryPolicy,
  count,
  integer,
  list,
  nonEmpty,
  json,
  nullable,
  positiveInteger,
  priority,
  range,
  repeatable,
  scopes,
  seconds,
  serverName,
  statuses,
  timestamp,
  token,
  type Parser,
} from "./values.js";

export const DEFAULT_URL = "http://127.0.0.1:7890";

export interface ProgramOptions {
  /** Columns the help text wraps at; by default the terminal's width. */
  helpWidth?: number;
}

function option<T>(flags: string, description: string, parse?: Parser<T>): Option {
  const made = new Option(flags, description);
  return parse ? made.argParser((value: string) => parse(value)) : made;
}

/** --url (or WHARF_URL), --token (or WHARF_TOKEN), the TLS files for an https:// one, and --json: every command that talks to a server. */
function remote(command: Command): Command {
  return command
    .addOption(option("--url <url>", "the Wharf server").env("WHARF_URL").default(DEFAULT_URL))
    .addOption(option("--token <token>", "bearer token for a server with --auth-file (WHARF_TOKEN keeps it out of the process list)", token).env("WHARF_TOKEN"))
    .addOption(tls("--tls-ca <file>", "trust this CA certificate (PEM) for an https:// --url, instead of Node's built-in list").env("WHARF_TLS_CA"))
    .addOption(tls("--tls-cert <file>", "present this client certificate (PEM; with --tls-key), for a server with mutual TLS").env("WHARF_TLS_CERT"))
    .addOption(tls("--tls-key <file>", "the client certificate's private key (PEM, unencrypted)").env("WHARF_TLS_KEY"))
    .addOption(option("--json", "print JSON lines even on a terminal"));
}

function filters(command: Command): Command {
  const filter = (flags: string, description: string, parse: Parser<unknown>): Option => option(flags, description, parse).helpGroup("Filters (every one must hold):");
  return command
    .addOption(filter("--id <ids>", "job ids, comma-separated", list))
    .addOption(filter("--queue <names>", "queue names, comma-separated", list))
    .addOption(filter("--type <names>", "job types, comma-separated", list))
    .addOption(filter("--status <statuses>", "blocked, scheduled, ready, in_flight, completed, dead; comma-separated", statuses))
    .addOption(filter("--correlation-id <ids>", "correlation ids, comma-separated", list))
    .addOption(filter("--priority <range>", "N, A..B, ..B or A.. (0-65535)", range(priority)))
    .addOption(filter("--ready-at <range>", "a range of ms since the epoch or ISO-8601 dates", range(timestamp)))
    .addOption(filter("--attempts <range>", "a range of attempt counts", range(count)))
    .addOption(filter("--filter <jq>", "a jq expression over the payload; matches when truthy", nonEmpty));
}

/** Commands that change every job their filters select (with --all), after confirmation. */
function bulk(command: Command, verb: string): Command {
  return filters(remote(command))
    .argument("[ids...]", `ids of the jobs to ${verb}`)
    .option("--all", `${verb} every job the filters select (every job, without filters)`)
    .option("--yes", "do not ask for confirmation (needed when not on a terminal)")
    .option("--dry-run", `print how many jobs would be ${verb === "retry" ? "retried" : `${verb}d`}, change nothing`);
}

function tls(flags: string, description: string): Option {
  return option(flags, description, nonEmpty).helpGroup("TLS:");
}

function serveCommand(): Command {
  return new Command("serve")
    .description("run the Wharf server")
    .addOption(option("--host <host>", "interface to listen on").default("127.0.0.1"))
    .addOption(option("--port <port>", "TCP port; 0 picks a free one", integer(0, 65535)).default(7890))
    .addOption(option("--data-dir <dir>", "where the SQLite file lives (default ./wharf-data)", nonEmpty))
    .addOption(option("--store <spec>", "sqlite:PATH, sqlite::memory:, postgres://... or postgresql://...", nonEmpty))
    .addOption(option("--durability <mode>", "fsync: every commit reaches the disk; buffered: faster, may lose the last commits on a power cut").choices(["fsync", "buffered"]).default("fsync"))
    .addOption(option("--max-body-bytes <n>", "largest request body", positiveInteger))
    .addOption(option("--max-result-bytes <n>", "largest result or saved state a job keeps, in bytes of JSON", positiveInteger))
    .addOption(option("--max-dependency-results-bytes <n>", "most bytes of JSON the results of one job's dependencies may take (default 16 MiB); past it the job is dead, unsent", positiveInteger))
    .addOption(option("--max-in-flight <n>", "jobs in flight across all take streams, at most", positiveInteger))
    .addOption(option("--header-timeout-ms <ms>", "time a client has to send a request's headers (and a new connection its first bytes or TLS handshake); default 10000", positiveInteger))
    .addOption(option("--body-timeout-ms <ms>", "time a whole request may take to arrive; default 60000", positiveInteger))
    .addOption(option("--max-take-streams <n>", "take streams open at once, at most (default 10000); beyond it a take is 429", positiveInteger))
    .addOption(option("--max-connections <n>", "connections open at once, at most (default 20000); beyond it a new one is closed on arrival", positiveInteger))
    .addOption(option("--lease-timeout <seconds>", "lease of one attempt when the job has no timeout", seconds))
    .addOption(option("--retry-limit <n>", "retries of a job that has no retry_limit", count))
    .addOption(option("--completed-retention-ms <ms>", "how long completed jobs are kept", integer(0)))
    .addOption(option("--dead-retention-ms <ms>", "how long dead jobs are kept", integer(0)))
    .addOption(option("--filter-timeout-ms <ms>", "time one jq filter evaluation may take", positiveInteger))
    .addOption(option("--filter-memory-mb <mib>", "memory one jq filter evaluation may use", positiveInteger))
    .addOption(option("--log-level <level>", "least severe level logged").choices(LOG_LEVELS).default("info"))
    .addOption(tls("--tls-cert <file>", "serve HTTPS with this certificate (PEM; with --tls-key); SIGHUP reads the files again"))
    .addOption(tls("--tls-key <file>", "the certificate's private key (PEM, unencrypted)"))
    .addOption(tls("--tls-client-ca <file>", "mutual TLS: clients must present a certificate this CA (PEM) signed"))
    .addOption(option("--auth-file <file>", "JSON file of bearer tokens and client certificates, and their scopes: callers need one (see wharf token new)", nonEmpty).helpGroup("Authentication:"))
    .addOption(option("--insecure-no-auth", "without --auth-file or --tls-client-ca, listen on a --host other machines can reach all the same").helpGroup("Authentication:"))
    .addOption(option("--max-requests-per-token <n>", "requests per second one token or certificate may make, in bursts of n; beyond it 429 (default: no limit)", positiveInteger).helpGroup("Authentication:"))
    .addOption(option("--max-take-streams-per-token <n>", "take streams one token or certificate may hold open; beyond it 429 (default: only --max-take-streams)", positiveInteger).helpGroup("Authentication:"))
    .addOption(option("--max-connections-per-token <n>", "connections one token or certificate may hold open; beyond it 429 and the connection closed (default: only --max-connections)", positiveInteger).helpGroup("Authentication:"))
    .addOption(new Option("--allowed-origin <origin>", "a web origin (https://ops.example.com) whose pages may call this server from a browser (CORS); repeatable").argParser(repeatable(nonEmpty)).helpGroup("Authentication:"))
    .addOption(new Option("--trusted-key-file <file>", "an ed25519 public key (PEM) whose signed jobs enqueues may bring: signatures are checked against these (403); repeatable").argParser(repeatable(nonEmpty)).helpGroup("Signed jobs:"))
    .addOption(option("--require-signed", "every queue takes only jobs signed by a trusted key (one queue: its require_signed setting)").helpGroup("Signed jobs:"))
    .action((options: run.ServeOptions) => run.serve(options));
}

function enqueueCommand(): Command {
  return remote(new Command("enqueue"))
    .description("enqueue one job")
    .argument("<QUEUE>", "queue name", nonEmpty)
    .argument("<TYPE>", "job type", nonEmpty)
    .addArgument(new Argument("<PAYLOAD_JSON>", "the payload, any JSON value").argParser(json))
    .addOption(option("--priority <n>", "0 (first) to 65535; default 32768", priority))
    .addOption(option("--ready-at <time>", "ms since the epoch or an ISO-8601 date; default now", timestamp))
    .addOption(option("--unique-key <key>", "at most one job with this key...", nonEmpty))
    .addOption(option("--unique-while <scope>", "...while it is queued, active (queued or in flight) or exists").choices(UNIQUE_SCOPES))
    .addOption(option("--throttle-ms <ms>", "...instead, at most one per window of this many ms, whatever its status", positiveInteger))
    .addOption(option("--debounce-ms <ms>", "...as --throttle-ms, but an enqueue into a taken window goes into the next one", positiveInteger))
    .addOption(option("--retry-limit <n>", "retries before the job is dead", count))
    .addOption(option("--retry-policy <policy>", "linear_1m, linear_10m, linear_1h, exponential, or a JSON policy ({\"name\": \"constant\", \"delay_ms\": 500})", retryPolicy))
    .addOption(option("--timeout <seconds>", "lease of one attempt (at most 86400)", seconds))
    .addOption(option("--batch-key <key>", "fold into this batch's open job (with --batch-when and --batch-fold)", nonEmpty))
    .addOption(option("--batch-when <jq>", "fold while this holds, given $existing and $new payloads; else a new batch", nonEmpty))
    .addOption(option("--batch-fold <jq>", "the merged payload, given $existing and $new", nonEmpty))
    .addOption(option("--depends-on <ids>", "job ids, comma-separated: blocked until every one has completed", list))
    .addOption(option("--deadline <time>", "ms since the epoch or an ISO-8601 date: not started by then, the job is dead", timestamp))
    .addOption(option("--concurrency-key <key>", "the lane its queue's per-key limits count it in (concurrency_key, rate_limit with a key)", nonEmpty))
    .addOption(option("--correlation-id <id>", "metadata tying this job to others (kept, shown, filterable)", nonEmpty))
    .addOption(option("--parent-job-id <id>", "metadata naming the job this one came from", nonEmpty))
    .addOption(option("--signing-key-file <file>", "sign the job with this ed25519 private key (PEM, from wharf signing-key new)", nonEmpty).env("WHARF_SIGNING_KEY_FILE"))
    .action((queue: string, type: string, payload: EnqueueInput["payload"], options: run.EnqueueOptions) => run.enqueue(queue, type, payload, options));
}

function patchFlags(command: Command): Command {
  const set = (flags: string, description: string, parse: Parser<unknown>): Option => option(flags, description, parse).helpGroup("Changes (null restores the server default):");
  return command
    .addOption(set("--set-queue <name>", "move to this queue", nonEmpty))
    .addOption(set("--set-priority <n>", "0 (first) to 65535", priority))
    .addOption(set("--set-ready-at <time>", "ms since the epoch, an ISO-8601 date, or now (null also means now)", nullable(timestamp, ["now", "null"])))
    .addOption(set("--set-retry-limit <n>", "retries before the job is dead, or null", nullable(count)))
    .addOption(set("--set-timeout <seconds>", "lease of one attempt, or null", nullable(seconds)))
    .addOption(set("--set-backoff <spec>", "BASE_MS:EXPONENT:JITTER_MS, or null", nullable(backoff)))
    .addOption(set("--set-completed-retention-ms <ms>", "how long the job is kept once completed, or null", nullable(integer(0))))
    .addOption(set("--set-dead-retention-ms <ms>", "how long the job is kept once dead, or null", nullable(integer(0))));
}

function jobsCommand(): Command {
  const jobs = new Command("jobs").description("list, inspect, change and delete jobs");
  jobs.addCommand(
    filters(remote(new Command("list")))
      .description("list jobs, oldest first")
      .addOption(option("--order <order>", "oldest first (asc) or newest first (desc)").choices(["asc", "desc"]))
      .addOption(option("--limit <n>", "jobs to print at most", positiveInteger).default(50))
      .addOption(option("--from <id>", "start after this job id (the notice after a full page names it)", nonEmpty))
      .action((options: run.ListOptions) => run.list(options)),
  );
  jobs.addCommand(remote(new Command("get")).description("print one job").argument("<ID>", "job id").action((id: string, options: run.RemoteOptions) => run.get(id, options)));
  jobs.addCommand(
    remote(new Command("result")).description("print what a completed job's success carried").argument("<ID>", "job id").action((id: string, options: run.RemoteOptions) => run.result(id, options)),
  );
  jobs.addCommand(
    remote(new Command("cancel")).description("cancel jobs that have not ended: each is dead (Cancelled); a running one's worker is told").argument("<ID...>", "job ids")
      .action((ids: string[], options: run.RemoteOptions) => run.cancel(ids, options)),
  );
  jobs.addCommand(filters(remote(new Command("count"))).description("count the jobs the filters select").action((options: run.FilterOptions & run.RemoteOptions) => run.count(options)));
  jobs.addCommand(
    remote(new Command("errors")).description("print a job's failure records, by attempt").argument("<ID>", "job id").action((id: string, options: run.RemoteOptions) => run.errors(id, options)),
  );
  jobs.addCommand(bulk(new Command("delete"), "delete").description("delete jobs by id, or every job the filters select with --all").action((ids: string[], options: run.BulkOptions) => run.remove(ids, options)));
  jobs.addCommand(
    bulk(new Command("retry"), "retry")
      .description("scheduled or ready jobs run now; a dead job is enqueued afresh and the dead copy dropped (atomically)")
      .action((ids: string[], options: run.BulkOptions) => run.retry(ids, options)),
  );
  jobs.addCommand(
    patchFlags(bulk(new Command("patch"), "patch"))
      .description("change jobs by id, or every job the filters select with --all (completed and dead jobs are left alone)")
      .action((ids: string[], options: run.PatchOptions) => run.patch(ids, options)),
  );
  return jobs;
}

function cronCommand(): Command {
  const crons = new Command("cron").description("recurring jobs: cron groups and their entries");
  const group = (): Argument => new Argument("<GROUP>", "cron group name");
  const entry = (): Argument => new Argument("[ENTRY]", "one entry of the group (default: the whole group)");
  crons.addCommand(remote(new Command("list")).description("every group's entries, with their next and last ticks").action((options: run.RemoteOptions) => cron.list(options)));
  crons.addCommand(
    remote(new Command("get")).description("print a group, or one entry").addArgument(group()).addArgument(entry())
      .action((name: string, entryName: string | undefined, options: run.RemoteOptions) => cron.get(name, entryName, options)),
  );
  crons.addCommand(
    remote(new Command("put"))
      .description("define a whole group from FILE, JSON or YAML ({entries: [...], paused?}); unchanged entries keep their schedule")
      .addArgument(group())
      .argument("<FILE>", "the group definition; - reads standard input")
      .action((name: string, file: string, options: run.RemoteOptions) => cron.put(name, file, options)),
  );
  for (const [verb, paused] of [["pause", true], ["resume", false]] as const) {
    crons.addCommand(
      remote(new Command(verb)).description(`${verb} a group, or one entry (ticks still move on while paused)`).addArgument(group()).addArgument(entry())
        .action((name: string, entryName: string | undefined, options: run.RemoteOptions) => cron.pause(paused, name, entryName, options)),
    );
  }
  crons.addCommand(
    remote(new Command("delete")).description("delete a group and its entries, or one entry").addArgument(group()).addArgument(entry())
      .option("--yes", "do not ask for confirmation (needed when not on a terminal)")
      .action((name: string, entryName: string | undefined, options: run.RemoteOptions & { yes?: boolean }) => cron.remove(name, entryName, options)),
  );
  return crons;
}

function queuesCommand(): Command {
  const queues = new Command("queues").description("each queue with its jobs counted by status (list, the default), or one queue's settings");
  queues.addCommand(remote(new Command("list")).description("each queue with its jobs counted by status").action((opts: run.RemoteOptions) => run.queues(opts)), { isDefault: true });
  const queue = (): Argument => new Argument("<QUEUE>", "queue name");
  queues.addCommand(remote(new Command("get")).description("a queue's settings and its jobs by status").addArgument(queue())
    .action((name: string, options: run.RemoteOptions) => queueCommands.get(name, options)));
  queues.addCommand(
    remote(new Command("set")).description("change a queue's settings: NAME=VALUE, each VALUE JSON, null resets (e.g. paused=true)").addArgument(queue())
      .argument("<SETTING...>", "NAME=VALUE")
      .action((name: string, settings: string[], options: run.RemoteOptions) => queueCommands.set(name, settings, options)),
  );
  for (const [verb, paused] of [["pause", true], ["resume", false]] as const) {
    const what = paused ? "accept enqueues but hand out nothing until resumed (jobs in flight finish)" : "hand out jobs again, at once to open take streams";
    queues.addCommand(remote(new Command(verb)).description(`${verb} a queue: ${what}`).addArgument(queue())
      .action((name: string, options: run.RemoteOptions) => queueCommands.pause(paused, name, options)));
  }
  return queues;
}

function tlsCommand(): Command {
  const command = new Command("tls").description("certificates for TLS and mutual TLS");
  command.addCommand(
    new Command("init")
      .description("write a new CA, a server certificate and client certificates it signed, as PEM files (keys readable by their owner only)")
      .addOption(option("--out-dir <dir>", "where the files go (made if missing)", nonEmpty).makeOptionMandatory())
      .addOption(new Option("--san <name>", `a DNS name or IP address clients reach the server by; repeatable (default: ${tlsCommands.DEFAULT_SERVER_NAMES.join(", ")})`).argParser(repeatable(serverName)))
      .addOption(new Option("--client <name>", "also a client certificate for mutual TLS, with this common name; repeatable").argParser(repeatable(fileName)))
      .addOption(option("--days <n>", "days the certificates are valid", integer(1, 36_500)).default(365))
      .addOption(option("--cn <name>", "the CA's common name", commonName).default("Wharf CA"))
      .option("--force", "overwrite files that exist (every file is made anew, a new CA included)")
      .addOption(option("--json", "print JSON lines even on a terminal"))
      .action((options: tlsCommands.TlsInitOptions) => tlsCommands.init(options)),
  );
  return command;
}

function signingKeyCommand(): Command {
  const command = new Command("signing-key").description("ed25519 keys for signed jobs");
  command.addCommand(
    new Command("new")
      .description("write a new key pair: NAME.pem, the private key producers sign with (readable by its owner only), and NAME.pub.pem, for servers and workers to trust")
      .addOption(option("--out-dir <dir>", "where the files go (made if missing)", nonEmpty).makeOptionMandatory())
      .addOption(option("--name <name>", "the files' name", fileName).default("signing-key"))
      .option("--force", "overwrite the files if they exist")
      .addOption(option("--json", "print JSON lines even on a terminal"))
      .action((options: signingCommands.NewSigningKeyOptions) => signingCommands.create(options)),
  );
  return command;
}

function tokenCommand(): Command {
  const tokens = new Command("token").description("bearer tokens for a server's --auth-file");
  tokens.addCommand(
    new Command("new")
      .description("print a fresh random token (line 1, for the client) and its --auth-file entry, which holds only its hash (line 2)")
      .addOption(option("--name <name>", "how logs and errors name the token's holder (default: from its hash)", nonEmpty))
      .addOption(option("--scopes <scopes>", `what it may do, comma-separated: ${SCOPES.join(", ")} (default: every one)`, scopes))
      .addOption(option("--queues <patterns>", "queue name patterns it may reach, comma-separated, * for any characters (default: every queue)", list))
      .addOption(option("--max-requests-per-second <n>", "requests per second it may make, in bursts of n; beyond it 429 (default: the server's --max-requests-per-token)", positiveInteger))
      .addOption(option("--max-take-streams <n>", "take streams it may hold open; beyond it 429 (default: the server's --max-take-streams-per-token)", positiveInteger))
      .addOption(option("--max-connections <n>", "connections it may hold open; beyond it 429 (default: the server's --max-connections-per-token)", positiveInteger))
      .action((options: tokenCommands.NewTokenOptions) => tokenCommands.create(options)),
  );
  return tokens;
}

/** The whole `wharf` program. Errors throw (exitOverride) so that main.ts chooses the exit code. */
export function buildProgram(options: ProgramOptions = {}): Command {
  const program = new Command("wharf")
    .description("a durable job queue: the server, and commands that talk to it")
    .version(VERSION, "-V, --version", "print the version")
    .exitOverride()
    .showHelpAfterError("(add --help for usage)")
    .configureOutput({ outputError: (message, write) => write(message.replace(/^error: /, "wharf: ")) });
  if (options.helpWidth !== undefined) program.configureHelp({ helpWidth: options.helpWidth });
  program.addCommand(serveCommand());
  program.addCommand(enqueueCommand());
  program.addCommand(jobsCommand());
  program.addCommand(cronCommand());
  program.addCommand(queuesCommand());
  program.addCommand(tokenCommand());
  program.addCommand(signingKeyCommand());
  program.addCommand(remote(new Command("health")).description("check that the server answers").action((opts: run.RemoteOptions) => run.health(opts)));
  program.addCommand(
    remote(new Command("workers"))
      .description("list the workers connected to the server: their take streams, jobs in flight and done, and what they report")
      .action((opts: run.RemoteOptions) => run.remote(opts, async (wharf, out) => out.rows(await wharf.workers(), WORKER_COLUMNS))),
  );
  program.addCommand(
    remote(new Command("top"))
      .description("a live view of the server in the terminal: jobs by status, in-flight, ready, scheduled and dead jobs, details; retry and delete (q quits)")
      .addOption(option("--refresh-ms <ms>", "how often it reads the server", integer(100, 60_000)).default(1000))
      .action((opts: run.RemoteOptions & { refreshMs: number }) => run.remote(opts, (wharf) => topCommand.top(wharf, { url: opts.url, refreshMs: opts.refreshMs }))),
  );
  program.addCommand(
    remote(new Command("tail"))
      .description("follow the server's job events as they happen (until Ctrl-C, or --count of them)")
      .addOption(option("--queue <names>", "events of these queues, comma-separated", list))
      .addOption(option("--type <names>", "events of jobs of these types, comma-separated", list))
      .addOption(option("--kind <kinds>", "these kinds only, comma-separated (job.enqueued, job.completed, job.dead, ...)", list))
      .addOption(option("--after <id>", "start with the recent events after this event id", nonEmpty))
      .addOption(option("--count <n>", "stop after this many events", positiveInteger))
      .action((opts: run.RemoteOptions & tailCommand.TailOptions) => run.remote(opts, (wharf, out) => tailCommand.tail(wharf, out, opts))),
  );
  program.addCommand(
    remote(new Command("reset"))
      .description("delete every job in every queue")
      .option("--yes", "do not ask for confirmation (needed when not on a terminal)")
      .option("--dry-run", "print how many jobs would be deleted, change nothing")
      .action((opts: run.RemoteOptions & { yes?: boolean; dryRun?: boolean }) => run.reset(opts)),
  );
  program.addCommand(tlsCommand());
  // Commands made with `new Command` take the program's settings (exit override, output, help) here.
  for (const command of allCommands(program).slice(1)) command.copyInheritedSettings(program);
  return program;
}

/** Every command, depth first, for the reference. */
export function allCommands(command: Command): Command[] {
  return [command, ...command.commands.flatMap(allCommands)];
}
