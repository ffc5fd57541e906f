/**
 * TLS from the command line: `wharf tls init` writes a CA, server and client certificates (and refuses
 * to overwrite them), `wharf serve --tls-*` serves HTTPS and mutual TLS and reloads its files on SIGHUP,
 * and the remote commands reach it with --tls-ca, --tls-cert and --tls-key (or WHARF_TLS_*).
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { chmodSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { failed, killAllChildren, ok, runCli, spawnServer, type SpawnedServer } from "../helpers/cli.js";
import { eventually, tempDir, uniqueName } from "../helpers/server.js";
import { presentedCertificate } from "../helpers/tls.js";

after(killAllChildren);

const DAY_MS = 86_400_000;
const FILES = ["ca-cert.pem", "ca-key.pem", "server-cert.pem", "server-key.pem", "client-worker-cert.pem", "client-worker-key.pem"];

function certificate(dir: string, name: string): X509Certificate {
  return new X509Certificate(readFileSync(join(dir, name)));
}

function modeOf(path: string): number {
  return statSync(path).mode & 0o777;
}

describe("wharf tls init", () => {
  const dirs: string[] = [];
  const freshDir = (): string => {
    const dir = join(tempDir("wharf-tls-init-"), "certs");
    dirs.push(dir);
    return dir;
  };

  after(() => {
    for (const dir of dirs) rmSync(join(dir, ".."), { recursive: true, force: true });
  });

  test("writes the CA, the server's and each client's certificate and key, printing each path; keys are private to their owner", async () => {
    const dir = freshDir();
    const printed = ok(await runCli(["tls", "init", "--out-dir", dir, "--client", "worker"]));
    assert.deepEqual(printed, FILES.map((name) => ({ wrote: join(dir, name) })));
    for (const name of FILES) assert.equal(modeOf(join(dir, name)), name.endsWith("-key.pem") ? 0o600 : 0o644, name);

    const ca = certificate(dir, "ca-cert.pem");
    const server = certificate(dir, "server-cert.pem");
    const client = certificate(dir, "client-worker-cert.pem");
    assert.deepEqual([ca.subject, ca.ca], ["CN=Wharf CA", true]);
    assert.deepEqual([server.subject, server.subjectAltName, server.ca], ["CN=localhost", "DNS:localhost, IP Address:127.0.0.1", false]);
    assert.equal(client.subject, "CN=worker");
    for (const issued of [server, client]) {
      assert.ok(issued.checkIssued(ca) && issued.verify(ca.publicKey), `${issued.subject} is signed by the CA`);
      const days = (Date.parse(issued.validTo) - Date.now()) / DAY_MS;
      assert.ok(days > 364 && days <= 365, `valid for 365 days by default, got ${days}`);
    }
    assert.deepEqual([server.keyUsage, client.keyUsage], [["1.3.6.1.5.5.7.3.1"], ["1.3.6.1.5.5.7.3.2"]], "serverAuth and clientAuth");
  });

  test("--san, --days and --cn choose the server's names, the validity and the CA's name", async () => {
    const dir = freshDir();
    ok(await runCli(["tls", "init", "--out-dir", dir, "--san", "wharf.internal", "--san", "10.1.2.3", "--days", "30", "--cn", "Jobs CA"]));
    const server = certificate(dir, "server-cert.pem");
    assert.deepEqual([server.subject, server.issuer, server.subjectAltName], ["CN=wharf.internal", "CN=Jobs CA", "DNS:wharf.internal, IP Address:10.1.2.3"]);
    const days = (Date.parse(server.validTo) - Date.now()) / DAY_MS;
    assert.ok(days > 29 && days <= 30, `valid for 30 days, got ${days}`);
  });

  test("refuses to overwrite files that exist (exit 2, nothing changed) unless --force, which makes every file anew", async () => {
    const dir = freshDir();
    ok(await runCli(["tls", "init", "--out-dir", dir]));
    const caBefore = readFileSync(join(dir, "ca-cert.pem"), "utf8");
    failed(await runCli(["tls", "init", "--out-dir", dir, "--client", "worker"]), 2, /ca-cert\.pem, .*ca-key\.pem, .*server-cert\.pem, .*server-key\.pem already exist; --force/);
    assert.equal(readFileSync(join(dir, "ca-cert.pem"), "utf8"), caBefore);
    assert.throws(() => statSync(join(dir, "client-worker-cert.pem")), /ENOENT/, "nothing written");

    chmodSync(join(dir, "server-key.pem"), 0o644);
    assert.equal(ok(await runCli(["tls", "init", "--out-dir", dir, "--client", "worker", "--force"])).length, 6);
    assert.notEqual(readFileSync(join(dir, "ca-cert.pem"), "utf8"), caBefore, "a new CA");
    assert.equal(modeOf(join(dir, "server-key.pem")), 0o600, "an overwritten key is private again");
  });

  test("bad flags are usage errors, exit 2, and write nothing", async () => {
    const dir = freshDir();
    const refused: Array<[string[], RegExp]> = [
      [[], /required option '--out-dir <dir>' not specified/],
      [["--out-dir", dir, "--san", "not a name"], /--san.*must be a DNS name or an IP address/],
      [["--out-dir", dir, "--client", "../escape"], /--client.*must be 1 to 64 letters/],
      [["--out-dir", dir, "--client", "worker", "--client", "worker"], /--client: worker is given twice/],
      [["--out-dir", dir, "--days", "0"], /--days.*must be from 1 to 36500/],
      [["--out-dir", dir, "--cn", "x".repeat(65)], /--cn.*at most 64 characters/],
    ];
    for (const [args, message] of refused) failed(await runCli(["tls", "init", ...args]), 2, message);
    assert.throws(() => statSync(dir), /ENOENT/);
  });
});

describe("wharf serve with TLS, and the remote commands", () => {
  let certs: string;
  let dataDir: string;
  const file = (name: string): string => join(certs, name);
  const serverFlags = (): string[] => ["--tls-cert", file("server-cert.pem"), "--tls-key", file("server-key.pem")];
  const clientFlags = (): string[] => ["--tls-ca", file("ca-cert.pem")];
  const workerEnv = (): Record<string, string> => ({
    WHARF_TLS_CA: file("ca-cert.pem"),
    WHARF_TLS_CERT: file("client-worker-cert.pem"),
    WHARF_TLS_KEY: file("client-worker-key.pem"),
  });

  before(async () => {
    certs = join(tempDir("wharf-tls-serve-"), "certs");
    dataDir = tempDir("wharf-tls-data-");
    ok(await runCli(["tls", "init", "--out-dir", certs, "--client", "worker"]));
  });

  after(() => {
    rmSync(join(certs, ".."), { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  });

  const serve = async (extraArgs: string[]): Promise<SpawnedServer> => {
    const server = await spawnServer({ dataDir: join(dataDir, uniqueName("server")), extraArgs });
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    return server;
  };

  test("jobs list --url https://... --tls-ca reaches a TLS server; without the CA it cannot", async (t) => {
    const server = await serve(serverFlags());
    t.after(() => server.stop());
    const queue = uniqueName("cli-tls");
    const [job] = ok(await runCli(["enqueue", queue, "t", "{}", "--url", server.url, ...clientFlags()]));
    const listed = ok(await runCli(["jobs", "list", "--queue", queue, "--url", server.url, ...clientFlags()]));
    assert.deepEqual(listed.map((row) => row.id), [job!.id]);
    failed(await runCli(["health", "--url", server.url]), 1, /cannot reach Wharf at https:.*unable to verify the first certificate/);
  });

  test("with --tls-client-ca the client certificate from WHARF_TLS_CERT and WHARF_TLS_KEY gets in; none does not", async (t) => {
    const server = await serve([...serverFlags(), "--tls-client-ca", file("ca-cert.pem")]);
    t.after(() => server.stop());
    assert.deepEqual(ok(await runCli(["health", "--url", server.url], { env: workerEnv() })), [{ status: "ok" }]);
    assert.deepEqual(ok(await runCli(["health", "--url", server.url, ...clientFlags(), "--tls-cert", file("client-worker-cert.pem"), "--tls-key", file("client-worker-key.pem")])), [{ status: "ok" }]);
    failed(await runCli(["health", "--url", server.url, ...clientFlags()]), 1, /cannot reach Wharf at https:.*certificate required/);
  });

  test("SIGHUP reads the files again: new connections get the new certificate; a bad file keeps the old one and is logged", async (t) => {
    const renewing = join(tempDir("wharf-tls-renew-"), "certs");
    t.after(() => rmSync(join(renewing, ".."), { recursive: true, force: true }));
    ok(await runCli(["tls", "init", "--out-dir", renewing]));
    const server = await serve(["--tls-cert", join(renewing, "server-cert.pem"), "--tls-key", join(renewing, "server-key.pem")]);
    t.after(() => server.stop());
    const serial = (): string => certificate(renewing, "server-cert.pem").serialNumber;
    const ca = (): string => readFileSync(join(renewing, "ca-cert.pem"), "utf8");
    const first = serial();
    assert.equal((await presentedCertificate(server.url, ca())).serialNumber, first);

    ok(await runCli(["tls", "init", "--out-dir", renewing, "--force"]));
    const second = serial();
    server.kill("SIGHUP");
    // Until the server has read the new files it shows the old certificate, which the new CA does not verify.
    const renewed = (): Promise<boolean> => presentedCertificate(server.url, ca()).then((shown) => shown.serialNumber === second, () => false);
    await eventually(renewed, 5000, "the renewed certificate");
    assert.deepEqual(ok(await runCli(["health", "--url", server.url, "--tls-ca", join(renewing, "ca-cert.pem")])), [{ status: "ok" }]);

    writeFileSync(join(renewing, "server-key.pem"), "garbage");
    server.kill("SIGHUP");
    await eventually(() => server.output().stdout.includes('"msg":"tls reload failed"'), 5000, "the failed reload's log line");
    assert.equal((await presentedCertificate(server.url, ca())).serialNumber, second, "the certificate in use stays");
    assert.equal(server.child.exitCode, null, "the server still runs");
  });

  test("an auth file's certificates map client certificates to scopes; --tls-client-ca alone lets every verified client in, on any host", async (t) => {
    const authFile = join(certs, "..", "auth.json");
    writeFileSync(authFile, JSON.stringify({ certificates: [{ name: "workers", subject_cn: "worker", scopes: ["read"] }] }));
    const mapped = await serve([...serverFlags(), "--tls-client-ca", file("ca-cert.pem"), "--auth-file", authFile]);
    t.after(() => mapped.stop());
    assert.deepEqual(ok(await runCli(["jobs", "count", "--url", mapped.url], { env: workerEnv() })), [{ count: 0 }]);
    failed(await runCli(["enqueue", "q", "t", "{}", "--url", mapped.url], { env: workerEnv() }), 1, /workers has no enqueue scope.*HTTP 403/);
    await mapped.stop();

    const anyone = await spawnServer({ dataDir: join(dataDir, uniqueName("server")), extraArgs: ["--host", "0.0.0.0", ...serverFlags(), "--tls-client-ca", file("ca-cert.pem")] });
    t.after(() => anyone.stop());
    assert.match(anyone.output().stdout, /"auth":true/, "the listening line says callers must prove who they are");
    const url = anyone.url.replace("0.0.0.0", "localhost");
    assert.equal(ok(await runCli(["enqueue", "q", "t", "{}", "--url", url], { env: workerEnv() })).length, 1);
  });

  test("an auth file with certificates needs --tls-client-ca to verify them: exit 2", async () => {
    const authFile = join(certs, "..", "certificates-only.json");
    writeFileSync(authFile, JSON.stringify({ certificates: [{ name: "workers", san: "DNS:worker.internal", scopes: ["work"] }] }));
    failed(await runCli(["serve", "--port", "0", "--data-dir", dataDir, ...serverFlags(), "--auth-file", authFile]), 2, /--auth-file: .*lists certificates, which only a server with --tls-client-ca verifies/);
  });

  test("TLS flags that do not fit are usage errors, exit 2", async () => {
    const serveArgs = ["serve", "--port", "0", "--data-dir", dataDir];
    failed(await runCli([...serveArgs, "--tls-cert", file("server-cert.pem")]), 2, /--tls-cert and --tls-key go together/);
    failed(await runCli([...serveArgs, "--tls-client-ca", file("ca-cert.pem")]), 2, /--tls-client-ca needs --tls-cert and --tls-key/);
    failed(await runCli([...serveArgs, "--tls-cert", file("missing.pem"), "--tls-key", file("server-key.pem")]), 2, /--tls-cert: cannot read .*missing\.pem \(ENOENT\)/);
    failed(await runCli([...serveArgs, "--tls-cert", file("server-cert.pem"), "--tls-key", file("client-worker-key.pem")]), 2, /--tls-key: .*client-worker-key\.pem is not the private key/);
    failed(await runCli(["health", "--url", "https://127.0.0.1:1", "--tls-cert", file("client-worker-cert.pem")]), 2, /--tls-cert and --tls-key go together/);
    failed(await runCli(["health", "--url", "https://127.0.0.1:1", "--tls-ca", file("ca-key.pem")]), 2, /--tls-ca: .*ca-key\.pem holds no PEM certificate/);
    failed(await runCli(["health", "--url", "http://127.0.0.1:1", ...clientFlags()]), 2, /tls options need an https:\/\/ URL/);
  });
});
