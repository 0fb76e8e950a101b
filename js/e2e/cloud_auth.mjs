// Browser auth e2e: the playground in cloud mode, served by examples/app_server/app.py, in
// Debian's Chromium. Driven by tests/e2e_browser/test_browser_cloud_auth.py, which starts the
// servers and asserts on the facts this script prints (one line: `FACTS {...}`).
//
// usage: node e2e/cloud_auth.mjs stream|refused
// env:   E2E_APP_URL (the app server), E2E_API_URL (openreactor), E2E_API_KEY (only to search
//        for it in what the browser received), CHROMIUM (default /usr/bin/chromium)
import { chromium } from "playwright-core";

import { decodeInPage, sampleCounters } from "./decode.mjs";

const phase = process.argv[2];
const appUrl = process.env.E2E_APP_URL;
const apiUrl = process.env.E2E_API_URL;
const apiKey = process.env.E2E_API_KEY;
if (!["stream", "refused"].includes(phase) || !appUrl || !apiUrl || !apiKey) {
  console.error("usage: E2E_APP_URL=… E2E_API_URL=… E2E_API_KEY=… node e2e/cloud_auth.mjs stream|refused");
  process.exit(2);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Everything the browser sent and received over HTTP, to search for the key afterwards. */
function recordTraffic(context) {
  const exchanges = [];
  const pending = [];
  context.on("request", (request) => {
    exchanges.push({ kind: "request", method: request.method(), url: request.url(), headers: request.headers(), body: request.postData() ?? "" });
  });
  context.on("response", (response) => {
    const entry = { kind: "response", method: response.request().method(), url: response.url(), status: response.status(), headers: response.headers(), body: "" };
    exchanges.push(entry);
    pending.push(
      response.body().then(
        (b) => void (entry.body = b.toString("utf8")),
        () => void (entry.body = "<no body>"),
      ),
    );
  });
  return { exchanges, settle: () => Promise.all(pending.splice(0)) };
}

/** Where `secret` occurs in the traffic; [] when nowhere. */
function occurrences(exchanges, secret) {
  const hits = [];
  for (const e of exchanges) {
    const text = `${e.url}\n${JSON.stringify(e.headers)}\n${e.body}`;
    if (text.includes(secret)) hits.push(`${e.kind} ${e.method} ${e.url}`);
  }
  return hits;
}

/** Where the page's JS-visible state holds `secret`: DOM, storage, cookies, globals (3 levels). */
const scanPageState = (secret) => {
  const hits = [];
  const check = (where, value) => {
    if (typeof value === "string" && value.includes(secret)) hits.push(where);
  };
  check("document", document.documentElement.outerHTML);
  check("cookie", document.cookie);
  for (const [name, store] of [["localStorage", localStorage], ["sessionStorage", sessionStorage]]) {
    for (let i = 0; i < store.length; i++) check(`${name}.${store.key(i)}`, store.getItem(store.key(i)));
  }
  for (const entry of performance.getEntries()) check(`performance ${entry.name}`, entry.name);
  const seen = new WeakSet();
  const walk = (value, path, depth) => {
    if (typeof value === "string") return check(path, value);
    if (value === null || (typeof value !== "object" && typeof value !== "function") || depth > 3 || seen.has(value)) return;
    if (value instanceof Node) return;
    seen.add(value);
    let keys = [];
    try {
      keys = Object.getOwnPropertyNames(value);
    } catch {
      return;
    }
    for (const key of keys) {
      let child;
      try {
        child = value[key];
      } catch {
        continue;
      }
      walk(child, `${path}.${key}`, depth + 1);
    }
  };
  walk(window, "window", 0);
  return hits;
};

/** Poll the decoded probe frame from Node (the page's CSP forbids eval-built helpers). */
async function decodeUntil(page, predicate, timeoutMs) {
  const end = Date.now() + timeoutMs;
  let last = null;
  while (Date.now() < end) {
    const code = await page.evaluate(decodeInPage, ".video video");
    if (code) {
      last = code;
      if (predicate(code)) return { ok: true, code };
    }
    await sleep(40);
  }
  return { ok: false, code: last };
}

async function getSession(id, token) {
  const r = await fetch(`${apiUrl}/sessions/${encodeURIComponent(id)}`, {
    headers: { "Reactor-API-Version": "1", "Reactor-API-Accept-Version": "1", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
  });
  const text = await r.text();
  let state;
  try {
    state = JSON.parse(text).state;
  } catch {
    state = undefined;
  }
  return { status: r.status, state };
}

async function stream(context, traffic, facts) {
  const page = await context.newPage();
  const consoleLines = [];
  page.on("console", (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
  page.on("pageerror", (e) => consoleLines.push(`[pageerror] ${e.message}`));
  facts.console = consoleLines;
  await page.goto(`${appUrl}/`);
  const t0 = Date.now();
  facts.ready = await page
    .waitForFunction(() => document.body.dataset.status === "ready", null, { timeout: 30_000 })
    .then(() => true, () => false);
  facts.readyMs = Date.now() - t0;
  facts.mode = await page.evaluate(() => document.body.dataset.mode);
  facts.sessionId = await page.evaluate(() => document.body.dataset.sessionId ?? null);
  facts.errorPanel = await page.evaluate(() => document.querySelector("[role=alert]")?.textContent ?? null);
  if (!facts.ready) return;

  facts.counters = await sampleCounters(page, 1500);
  // The command forms come from the schema the model sends over the data channel.
  await page.waitForSelector("input[name=value]", { timeout: 10_000 });
  await page.fill("input[name=value]", "4321");
  await page.click("text=Send set_value");
  facts.afterCommand = await decodeUntil(page, (c) => c.value === 4321, 8_000);

  await traffic.settle();
  const bearers = new Set();
  for (const e of traffic.exchanges) {
    const auth = e.kind === "request" && e.url.startsWith(apiUrl) ? e.headers["authorization"] : undefined;
    if (auth) bearers.add(auth);
  }
  facts.bearers = [...bearers];
  const token = facts.bearers[0]?.replace(/^Bearer /, "");
  facts.token = token ?? null;
  facts.liveWithToken = await getSession(facts.sessionId, token);
  facts.liveWithoutToken = await getSession(facts.sessionId, undefined);
  facts.pageState = await page.evaluate(scanPageState, apiKey);
  // Control: the same scan does find what the page does hold (its session id, in the DOM).
  facts.pageStateFindsSessionId = (await page.evaluate(scanPageState, facts.sessionId)).length > 0;

  // Leave the page: the provider's pagehide handler deletes the session it created.
  const left = Date.now();
  await page.goto("about:blank");
  let after = await getSession(facts.sessionId, token);
  while (after.state !== "CLOSED" && Date.now() - left < 10_000) {
    await sleep(100);
    after = await getSession(facts.sessionId, token);
  }
  facts.afterLeaving = { ...after, ms: Date.now() - left };
  await sleep(300); // let the keepalive DELETE's response be recorded
  await page.close();
}

async function refused(context, traffic, facts) {
  const page = await context.newPage();
  await page.goto(`${appUrl}/`);
  facts.errorPanel = await page
    .waitForSelector("[role=alert]", { timeout: 15_000 })
    .then((el) => el.textContent(), () => null);
  facts.status = await page.evaluate(() => document.body.dataset.status);
  facts.sessionId = await page.evaluate(() => document.body.dataset.sessionId ?? null);
  facts.pageState = await page.evaluate(scanPageState, apiKey);
  await page.close();
}

const facts = { phase };
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required", "--allow-loopback-in-peer-connection",
  ],
});
let exitCode = 0;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const traffic = recordTraffic(context);
  await (phase === "stream" ? stream : refused)(context, traffic, facts);
  await traffic.settle();
  facts.keyInTraffic = occurrences(traffic.exchanges, apiKey);
  facts.jwtInTraffic = facts.token ? occurrences(traffic.exchanges, facts.token).length : 0;
  facts.exchanges = traffic.exchanges
    .filter((e) => e.kind === "response")
    .map((e) => ({ method: e.method, url: e.url, status: e.status, ...(e.url.includes("/api/reactor-token") ? { body: e.body } : {}) }));
  facts.requests = traffic.exchanges.filter((e) => e.kind === "request").map((e) => `${e.method} ${e.url}`);
} catch (e) {
  facts.crash = String(e?.stack ?? e);
  exitCode = 1;
} finally {
  await browser.close();
}
console.log(`FACTS ${JSON.stringify(facts)}`);
process.exit(exitCode);
