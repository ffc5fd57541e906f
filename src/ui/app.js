// The Wharf dashboard (served at /ui): queues, jobs, a job's details, workers, live from /events.
// Preact and htm, loaded from the server itself (no CDN); the API is called with the same token as
// any client, kept for the browser tab only (sessionStorage).
import { h, render } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import htm from "htm";

const html = htm.bind(h);
const STATUSES = ["blocked", "scheduled", "ready", "in_flight", "completed", "dead"];
const THROUGHPUT_BUCKET_MS = 5000;
const THROUGHPUT_BUCKETS = 24;

function token() {
  return sessionStorage.getItem("wharf-token") ?? "";
}

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(method, path, body) {
  const headers = { accept: "application/json" };
  if (token()) headers.authorization = `Bearer ${token()}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  const parsed = text ? JSON.parse(text) : undefined;
  if (!response.ok) throw new ApiError(response.status, parsed?.error ?? response.statusText);
  return parsed;
}

/** Asks `question`; once confirmed, calls the API and says `done`, or what the server answered. Whether it went through. */
async function confirmedCall(say, question, done, method, path, body) {
  if (!confirm(question)) return false;
  try {
    await api(method, path, body);
    say(done);
    return true;
  } catch (failure) {
    say(failure.message, true);
    return false;
  }
}

function when(ms) {
  return ms === undefined || ms === null ? "" : new Date(ms).toLocaleString();
}

/** Follows /events (NDJSON over fetch, which can carry the token), reconnecting with the last id. */
function useEvents(onEvents) {
  const [live, setLive] = useState(false);
  const handler = useRef(onEvents);
  handler.current = onEvents;
  useEffect(() => {
    let stopped = false;
    let controller;
    let last;
    const follow = async () => {
      while (!stopped) {
        controller = new AbortController();
        try {
          const headers = { accept: "application/x-ndjson" };
          if (token()) headers.authorization = `Bearer ${token()}`;
          const response = await fetch(`/events${last ? `?after=${last}` : ""}`, { headers, signal: controller.signal });
          if (!response.ok) throw new Error(`events: HTTP ${response.status}`);
          setLive(true);
          const reader = response.body.getReader();
          const decoder = new TextDecoder();
          let buffered = "";
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buffered += decoder.decode(value, { stream: true });
            const lines = buffered.split("\n");
            buffered = lines.pop();
            const events = lines.filter((line) => line.trim() !== "").map((line) => JSON.parse(line));
            if (events.length > 0) {
              last = events[events.length - 1].id;
              handler.current(events);
            }
          }
        } catch {
          if (stopped) return;
        }
        setLive(false);
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    };
    void follow();
    return () => {
      stopped = true;
      controller?.abort();
    };
  }, []);
  return live;
}

/** Data read by `load`, read again on `refresh()` and whenever an event arrives (at most twice a second). */
function useLoaded(load, keys, changes) {
  const [state, setState] = useState({ data: undefined, error: undefined });
  const refresh = useCallback(() => load().then((data) => setState({ data, error: undefined }), (error) => setState((old) => ({ ...old, error }))), keys);
  useEffect(() => void refresh(), [refresh]);
  useEffect(() => {
    if (changes === 0) return undefined;
    const timer = setTimeout(() => void refresh(), 300);
    return () => clearTimeout(timer);
  }, [changes, refresh]);
  return [state, refresh];
}

function Sparkline({ buckets }) {
  const max = Math.max(1, ...buckets);
  return html`<svg class="spark" width=${buckets.length * 5} height="20" aria-label="completed per 5 s">
    ${buckets.map((count, index) => html`<rect x=${index * 5} y=${20 - (count / max) * 20} width="4" height=${(count / max) * 20} />`)}
  </svg>`;
}

/** A queue's settings but `paused`, as JSON to edit; saved as a PATCH that clears what was taken out. */
function SettingsEditor({ queue, onDone, say }) {
  const { paused: _paused, ...settings } = queue.settings;
  const [text, setText] = useState(JSON.stringify(settings, null, 2));
  const save = async () => {
    let edited;
    try {
      edited = JSON.parse(text);
    } catch (error) {
      return say(`not JSON: ${error.message}`, true);
    }
    const patch = { ...Object.fromEntries(Object.keys(settings).map((name) => [name, null])), ...edited };
    if (await confirmedCall(say, `change the settings of queue ${queue.queue}?`, `changed the settings of queue ${queue.queue}`, "PATCH", `/queues/${encodeURIComponent(queue.queue)}`, patch)) onDone();
  };
  return html`<tr class="settings"><td colspan="11">
    <p>Settings of ${queue.queue} (max_in_flight, concurrency_key, rate_limit, max_entries, on_full, max_age_ms, retry_limit, timeout, retention, retry_policy, require_signed; see the README's Queue controls):</p>
    <textarea name="settings" rows="6" cols="70" value=${text} onInput=${(event) => setText(event.target.value)}></textarea>
    <p><button onClick=${save}>Save</button> <button onClick=${onDone}>Close</button></p>
  </td></tr>`;
}

function Queues({ changes, throughput, say }) {
  const [editing, setEditing] = useState(undefined);
  const [{ data, error }, refresh] = useLoaded(async () => {
    const { queues } = await api("GET", "/queues");
    return Promise.all(queues.map((queue) => api("GET", `/queues/${encodeURIComponent(queue)}`)));
  }, [], changes);
  const toggle = async (queue) => {
    const [action, done] = queue.settings.paused ? ["resume", "resumed"] : ["pause", "paused"];
    await confirmedCall(say, `${action} queue ${queue.queue}?`, `${done} queue ${queue.queue}`, "POST", `/queues/${encodeURIComponent(queue.queue)}/${action}`);
    void refresh();
  };
  if (error) return html`<p class="error">${error.message}</p>`;
  if (!data) return html`<p>Loading…</p>`;
  return html`<h2>Queues</h2>
    <table id="queues">
      <thead><tr><th>queue</th>${STATUSES.map((status) => html`<th>${status}</th>`)}<th>completed, last 2 min</th><th>paused</th><th></th></tr></thead>
      <tbody>${data.map((queue) => html`<tr data-queue=${queue.queue}>
        <td><a href=${`#/jobs?queue=${encodeURIComponent(queue.queue)}`}>${queue.queue}</a></td>
        ${STATUSES.map((status) => html`<td class="num" data-status=${status}>${queue.counts[status]}</td>`)}
        <td><${Sparkline} buckets=${throughput[queue.queue] ?? Array(THROUGHPUT_BUCKETS).fill(0)} /></td>
        <td>${queue.settings.paused ? "paused" : ""}</td>
        <td><button onClick=${() => toggle(queue)}>${queue.settings.paused ? "Resume" : "Pause"}</button> <button onClick=${() => setEditing(queue.queue)}>Settings</button></td>
      </tr>${editing === queue.queue ? html`<${SettingsEditor} queue=${queue} say=${say} onDone=${() => {
        setEditing(undefined);
        void refresh();
      }} />` : ""}`)}</tbody>
    </table>`;
}

function Jobs({ query, changes }) {
  const [filters, setFilters] = useState(() => Object.fromEntries(new URLSearchParams(query)));
  const search = new URLSearchParams(Object.entries(filters).filter(([, value]) => value));
  const [{ data, error }] = useLoaded(() => api("GET", `/jobs?${search}&limit=100&order=desc`), [search.toString()], changes);
  const field = (name) => (event) => setFilters((old) => ({ ...old, [name]: event.target.value }));
  const submit = (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    setFilters(Object.fromEntries([...form.entries()].filter(([, value]) => value)));
  };
  return html`<h2>Jobs</h2>
    <form class="filters" onSubmit=${submit}>
      <select name="status" value=${filters.status ?? ""} onChange=${field("status")}><option value="">any status</option>${STATUSES.map((status) => html`<option>${status}</option>`)}</select>
      <input name="queue" placeholder="queue" value=${filters.queue ?? ""} />
      <input name="type" placeholder="type" value=${filters.type ?? ""} />
      <input name="filter" placeholder="jq filter over the payload" size="30" value=${filters.filter ?? ""} />
      <button type="submit">Filter</button>
    </form>
    ${error ? html`<p class="error">${error.message}</p>` : !data ? html`<p>Loading…</p>` : html`<table id="jobs">
      <thead><tr><th>id</th><th>queue</th><th>type</th><th>status</th><th>attempts</th><th>ready at</th><th>progress</th></tr></thead>
      <tbody>${data.jobs.map((job) => html`<tr data-job=${job.id}>
        <td><a href=${`#/job/${job.id}`}>${job.id}</a></td><td>${job.queue}</td><td>${job.type}</td><td>${job.status}</td>
        <td class="num">${job.attempts}</td><td>${when(job.ready_at)}</td><td>${job.progress === undefined ? "" : JSON.stringify(job.progress)}</td>
      </tr>`)}</tbody>
    </table>`}`;
}

function Job({ id, changes, say }) {
  const [{ data, error }, refresh] = useLoaded(async () => {
    const job = await api("GET", `/jobs/${id}`);
    const { errors } = await api("GET", `/jobs/${id}/errors?limit=100`);
    return { job, errors };
  }, [id], changes);
  /** A job gone by the action (deleted, or dead and enqueued afresh) sends the page back to the list. */
  const act = async (what, done, gone, method, path, body) => {
    if (!(await confirmedCall(say, `${what} job ${id}?`, `${done} job ${id}`, method, path, body))) return;
    if (gone) location.hash = "#/jobs";
    else void refresh();
  };
  if (error) return html`<p class="error">${error.status === 404 ? `job ${id} is gone` : error.message}</p>`;
  if (!data) return html`<p>Loading…</p>`;
  const { job, errors } = data;
  const retry = job.status === "dead" ? ["POST", `/jobs/${id}/requeue`] : ["PATCH", `/jobs/${id}`, { ready_at: null }];
  const timeline = [["enqueued", job.created_at], ["ready at", job.ready_at], ["taken", job.dequeued_at], ["failed", job.failed_at], ["completed", job.completed_at], ["lease until", job.lease_expires_at], ["purged at", job.purge_at]].filter(([, at]) => at !== undefined);
  return html`<h2>Job ${job.id}</h2>
    <p>
      ${["scheduled", "ready", "dead"].includes(job.status) ? html`<button onClick=${() => act("Retry", "retried", job.status === "dead", ...retry)}>Retry</button> ` : ""}
      ${["completed", "dead"].includes(job.status) ? "" : html`<button onClick=${() => act("Cancel", "cancelled", false, "POST", `/jobs/${id}/cancel`)}>Cancel</button> `}
      <button class="danger" onClick=${() => act("Delete", "deleted", true, "DELETE", `/jobs/${id}`)}>Delete</button>
    </p>
    <dl id="job">
      <dt>queue</dt><dd>${job.queue}</dd><dt>type</dt><dd>${job.type}</dd><dt>status</dt><dd data-field="status">${job.status}</dd>
      <dt>attempts</dt><dd>${job.attempts}</dd><dt>priority</dt><dd>${job.priority}</dd>
      ${job.correlation_id === undefined ? "" : html`<dt>workflow</dt><dd><a href=${`#/workflow/${job.correlation_id}`}>${job.correlation_id}</a></dd>`}
      ${job.progress === undefined ? "" : html`<dt>progress</dt><dd data-field="progress">${JSON.stringify(job.progress)}</dd>`}
    </dl>
    <h3>Timeline</h3>
    <table><tbody>${timeline.map(([what, at]) => html`<tr><td>${what}</td><td>${when(at)}</td></tr>`)}</tbody></table>
    <h3>Payload</h3><pre data-field="payload">${JSON.stringify(job.payload, null, 2)}</pre>
    ${job.result === undefined ? "" : html`<h3>Result</h3><pre>${JSON.stringify(job.result, null, 2)}</pre>`}
    ${job.state === undefined ? "" : html`<h3>Saved state</h3><pre>${JSON.stringify(job.state, null, 2)}</pre>`}
    <h3>Errors</h3>
    ${errors.length === 0 ? html`<p>none</p>` : html`<table id="errors"><thead><tr><th>attempt</th><th>failed</th><th>type</th><th>message</th></tr></thead>
      <tbody>${errors.map((failure) => html`<tr><td class="num">${failure.attempt}</td><td>${when(failure.failed_at)}</td><td>${failure.error_type ?? ""}</td><td>${failure.message}</td></tr>`)}</tbody></table>`}`;
}

function Workers({ changes }) {
  const [{ data, error }] = useLoaded(() => api("GET", "/workers"), [], changes);
  if (error) return html`<p class="error">${error.message}</p>`;
  if (!data) return html`<p>Loading…</p>`;
  return html`<h2>Workers</h2>
    ${data.workers.length === 0 ? html`<p>No worker is connected.</p>` : html`<table id="workers">
      <thead><tr><th>worker</th><th>server</th><th>queues</th><th>in flight</th><th>done</th><th>failed</th><th>connected</th><th>status</th><th>language</th><th>memory</th></tr></thead>
      <tbody>${data.workers.map((worker) => html`<tr>
        <td>${worker.worker_id ?? "(no Worker-Id)"}</td><td>${worker.server}</td><td>${worker.queues?.join(", ") ?? "all"}</td>
        <td class="num">${worker.in_flight}/${worker.prefetch || "∞"}</td><td class="num">${worker.completed}</td><td class="num">${worker.failed}</td>
        <td>${when(worker.connected_at)}</td><td>${worker.report?.status ?? ""}</td><td>${worker.report?.language ?? ""}</td>
        <td>${worker.report?.memory_mb === undefined ? "" : `${worker.report.memory_mb} MB`}</td>
      </tr>`)}</tbody></table>`}`;
}

function Crons({ changes, say }) {
  const [{ data, error }, refresh] = useLoaded(async () => {
    const { crons } = await api("GET", "/crons");
    return { crons: await Promise.all(crons.map((name) => api("GET", `/crons/${encodeURIComponent(name)}`))) };
  }, [], changes);
  const toggle = async (group) => {
    const [action, done] = group.paused ? ["resume", "resumed"] : ["pause", "paused"];
    await confirmedCall(say, `${action} cron group ${group.name}?`, `${done} cron group ${group.name}`, "PATCH", `/crons/${encodeURIComponent(group.name)}`, { paused: !group.paused });
    void refresh();
  };
  if (error) return html`<p class="error">${error.message}</p>`;
  if (!data) return html`<p>Loading…</p>`;
  return html`<h2>Cron groups</h2>
    ${data.crons.length === 0 ? html`<p>No cron group.</p>` : html`<table id="crons">
      <thead><tr><th>group</th><th>entry</th><th>expression</th><th>time zone</th><th>enqueues</th><th>next fire</th><th>last fire</th><th>paused</th><th></th></tr></thead>
      <tbody>${data.crons.flatMap((group) => group.entries.map((entry, index) => html`<tr data-entry=${`${group.name}/${entry.name}`}>
        <td>${index === 0 ? group.name : ""}</td><td>${entry.name}</td><td><code>${entry.expression}</code></td><td>${entry.timezone ?? ""}</td>
        <td>${entry.job.queue} / ${entry.job.type}</td><td data-field="next">${when(entry.next_enqueue_at)}</td><td>${when(entry.last_enqueue_at)}</td>
        <td>${group.paused || entry.paused ? "paused" : ""}</td>
        <td>${index === 0 ? html`<button onClick=${() => toggle(group)}>${group.paused ? "Resume" : "Pause"} group</button>` : ""}</td>
      </tr>`))}</tbody></table>`}`;
}

/** A workflow's shape as nested boxes: a chain left to right, a group top to bottom, each job in its status's color. */
function Step({ shape, statuses }) {
  const callbacks = [["on success", shape.on_success], ["on error", shape.on_error]].filter(([, id]) => id !== undefined);
  let body;
  if (shape.job !== undefined) body = html`<a class=${`step ${statuses[shape.job] ?? "gone"}`} data-step=${shape.job} href=${`#/job/${shape.job}`}>${shape.job.slice(-6)}<br /><small>${statuses[shape.job] ?? "gone"}</small></a>`;
  else if (shape.chain) body = html`<div class="chain">${shape.chain.map((step, index) => html`${index > 0 ? html`<span class="arrow">→</span>` : ""}<${Step} shape=${step} statuses=${statuses} />`)}</div>`;
  else body = html`<div class="group">${shape.group.map((step) => html`<${Step} shape=${step} statuses=${statuses} />`)}</div>`;
  if (callbacks.length === 0) return body;
  return html`<div class="with-callbacks">${body}${callbacks.map(([on, id]) => html`<div class="callback"><small>${on}</small> <${Step} shape=${{ job: id }} statuses=${statuses} /></div>`)}</div>`;
}

function Workflow({ id, changes }) {
  const [{ data, error }] = useLoaded(() => api("GET", `/workflows/${id}`), [id], changes);
  if (error) return html`<p class="error">${error.status === 404 ? `workflow ${id} is gone` : error.message}</p>`;
  if (!data) return html`<p>Loading…</p>`;
  const statuses = Object.fromEntries([...data.steps, ...data.callbacks].map((step) => [step.id, step.status]));
  return html`<h2>Workflow ${data.id}</h2>
    <p>status <strong data-field="workflow-status">${data.status}</strong>, created ${when(data.created_at)}</p>
    <div id="workflow"><${Step} shape=${data.shape} statuses=${statuses} /></div>`;
}

function TokenForm({ onToken }) {
  const submit = (event) => {
    event.preventDefault();
    sessionStorage.setItem("wharf-token", new FormData(event.target).get("token"));
    onToken();
  };
  return html`<form id="token" onSubmit=${submit}><p>This server needs a token (one with the read scope; admin to change jobs and queues).</p>
    <input name="token" type="password" placeholder="token" size="40" autocomplete="off" /> <button type="submit">Use it</button></form>`;
}

function useRoute() {
  const [hash, setHash] = useState(location.hash || "#/queues");
  useEffect(() => {
    const changed = () => setHash(location.hash || "#/queues");
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  const [path, query = ""] = hash.slice(1).split("?");
  return { path, query };
}

function App() {
  const route = useRoute();
  const [changes, setChanges] = useState(0);
  const [throughput, setThroughput] = useState({});
  const [message, setMessage] = useState({ text: "", error: false });
  const [needsToken, setNeedsToken] = useState(false);
  const [authorized, setAuthorized] = useState(0);
  useEffect(() => {
    api("GET", "/queues").then(() => setNeedsToken(false), (error) => setNeedsToken(error.status === 401 || error.status === 403));
  }, [authorized]);
  const live = useEvents((events) => {
    setChanges((count) => count + 1);
    const completed = events.filter((event) => event.kind === "job.completed");
    if (completed.length === 0) return;
    setThroughput((old) => {
      const next = { ...old };
      const bucket = Math.floor(Date.now() / THROUGHPUT_BUCKET_MS);
      for (const event of completed) {
        const row = next[event.queue]?.bucket === bucket ? [...next[event.queue]] : [...(next[event.queue] ?? Array(THROUGHPUT_BUCKETS).fill(0)).slice(1), 0];
        row[row.length - 1] += 1;
        row.bucket = bucket;
        next[event.queue] = row;
      }
      return next;
    });
  });
  const say = (text, error = false) => setMessage({ text, error });
  const link = (target, label) => html`<a href=${target} class=${route.path.startsWith(target.slice(1)) ? "active" : ""}>${label}</a>`;
  let page;
  if (needsToken) page = html`<${TokenForm} onToken=${() => setAuthorized((count) => count + 1)} />`;
  else if (route.path.startsWith("/job/")) page = html`<${Job} id=${route.path.slice(5)} changes=${changes} say=${say} />`;
  else if (route.path === "/jobs") page = html`<${Jobs} key=${route.query} query=${route.query} changes=${changes} />`;
  else if (route.path === "/workers") page = html`<${Workers} changes=${changes} />`;
  else if (route.path === "/crons") page = html`<${Crons} changes=${changes} say=${say} />`;
  else if (route.path.startsWith("/workflow/")) page = html`<${Workflow} id=${route.path.slice(10)} changes=${changes} />`;
  else page = html`<${Queues} changes=${changes} throughput=${throughput} say=${say} />`;
  return html`<header><strong>Wharf</strong>${link("#/queues", "Queues")}${link("#/jobs", "Jobs")}${link("#/workers", "Workers")}${link("#/crons", "Cron groups")}
      <span class="live" id="live">${live ? "● live" : "○ connecting"}</span></header>
    <main>${message.text ? html`<p id="message" class=${message.error ? "error" : "notice"}>${message.text}</p>` : ""}${page}</main>`;
}

render(html`<${App} />`, document.getElementById("app"));
