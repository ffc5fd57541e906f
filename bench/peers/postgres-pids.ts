/** The processes of a PostgreSQL cluster, found from a connection to it, for /proc sampling as "server". */
import { readdirSync, readFileSync } from "node:fs";
import pg from "pg";

/** Postmaster pids by server address: found once with a connection, so sampling does not fork backends. */
const postmasters = new Map<string, number>();

/**
 * The postmaster of the cluster `url` points at and every process it has forked at the time of the call
 * (backends, WAL writer, checkpointer...). Backends of connections opened later show up in later calls.
 */
export async function postgresPids(url: string): Promise<number[]> {
  const { host, port } = new URL(url);
  const server = `${host}:${port}`;
  let postmaster = postmasters.get(server);
  if (postmaster === undefined || parentOf(postmaster) === undefined) {
    postmaster = await findPostmaster(url);
    postmasters.set(server, postmaster);
  }
  return [postmaster, ...childrenOf(postmaster)];
}

/** The parent of this connection's backend; the server must be on this machine for /proc to see it. */
async function findPostmaster(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
    const backend = rows[0]!.pid;
    const postmaster = parentOf(backend);
    if (postmaster === undefined) throw new Error(`PostgreSQL backend ${backend} is not in /proc: is the server on another machine?`);
    return postmaster;
  } finally {
    await client.end();
  }
}

/** The ppid field of /proc/<pid>/stat (undefined once the process is gone); the command name before it may hold spaces. */
function parentOf(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  const [, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(ppid);
}

function childrenOf(parent: number): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => parentOf(pid) === parent);
}
