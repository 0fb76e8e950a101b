// Browser e2e: our SDK (and the official @reactor-team/js-sdk@2.9.0) in Debian's Chromium against
// the real Python server. The test app is served from another origin than the API, and the
// servers run with no --cors-origin: the default CORS rule must let an app's page in.
//
// Chromium runs as users run it: no camera permission (which would turn off its mDNS hiding of
// host candidates), no fake devices; the webcam scenarios publish a synthetic canvas track. The
// exceptions, each named: --allow-loopback-in-peer-connection when ICE is on 127.0.0.1 (plain
// loopback, E2E_ALLOW_LOOPBACK) and the labelled scenario reactWebcamDevice (a fake camera with a
// granted permission, in a browser of its own).
//
// usage: node e2e/run.mjs [--only name,name] [--screenshot PATH]
// env:   OPENREACTOR_PYTHON (default REPO/.venv/bin/python), CHROMIUM (default /usr/bin/chromium),
//        E2E_ICE_HOST  the servers' --ice-host (default 127.0.0.1); "default" passes none, so ICE
//                      uses the machine's interfaces (inside netns-run: the veth's 127.0.0.2)
//        E2E_ALLOW_LOOPBACK  1/0: add --allow-loopback-in-peer-connection (default 1 when
//                      E2E_ICE_HOST is 127.0.0.1, else 0)
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:http";
import net from "node:net";
import { dirname, extname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";
import { build } from "vite";

import { decodeInPage, sampleCounters } from "./decode.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const jsDir = resolve(here, "..");
const repo = resolve(jsDir, "..");
const python = process.env.OPENREACTOR_PYTHON ?? join(repo, ".venv/bin/python");
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const iceHost = process.env.E2E_ICE_HOST ?? "127.0.0.1";
const allowLoopback = (process.env.E2E_ALLOW_LOOPBACK ?? (iceHost === "127.0.0.1" ? "1" : "0")) === "1";
const httpHost = "127.0.0.1";
/** Headless, and no network chatter of the browser's own; nothing that changes WebRTC or media. */
const PLAIN_CHROMIUM = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

const argv = process.argv.slice(2);
const only = argv.includes("--only") ? argv[argv.indexOf("--only") + 1].split(",") : null;
const screenshot = argv.includes("--screenshot") ? resolve(argv[argv.indexOf("--screenshot") + 1]) : null;

const children = [];
let failures = 0;

function freePort() {
  return new Promise((res, rej) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", rej);
    srv.listen(0, httpHost, () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

async function startServer(model, extra = []) {
  const port = await freePort();
  const args = ["-m", "openreactor", "serve", "--model", model, "--host", httpHost, "--port", String(port),
    ...(iceHost === "default" ? [] : ["--ice-host", iceHost]), "--width", "640", "--height", "360",
    "--keepalive", "30", "--log-level", process.env.E2E_SERVER_LOG_LEVEL ?? "warning", ...extra];
  const child = spawn(python, args, { cwd: repo, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, OPENREACTOR_STATE_DIR: join(jsDir, "e2e/.state") } });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  children.push(child);
  const url = `http://${httpHost}:${port}`;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server ${model} exited: ${output}`);
    try {
      const r = await fetch(`${url}/health`);
      if (r.ok) return { url, model, output: () => output };
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server ${model} did not start: ${output}`);
}

const MIME = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".map": "application/json", ".png": "image/png" };

async function serveStatic(dir) {
  const port = await freePort();
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    let file = join(dir, path === "/" ? "index.html" : path);
    if (!file.startsWith(dir) || !existsSync(file) || statSync(file).isDirectory()) file = join(dir, "index.html");
    res.writeHead(200, { "Content-Type": MIME[extname(file)] ?? "application/octet-stream" });
    res.end(readFileSync(file));
  });
  await new Promise((r) => server.listen(port, httpHost, r));
  return { origin: `http://${httpHost}:${port}`, close: () => server.close() };
}

function check(name, condition, detail) {
  if (condition) {
    console.log(`  ok   ${name}`);
  } else {
    failures++;
    console.log(`  FAIL ${name}${detail === undefined ? "" : `: ${JSON.stringify(detail)}`}`);
  }
}

function advancing(counters) {
  return counters.length >= 5 && counters.every((c, i) => i === 0 || c > counters[i - 1]);
}

function browserArgs() {
  // On plain loopback Chromium gathers no candidates unless allowed; inside netns-run it uses the veth.
  return allowLoopback ? [...PLAIN_CHROMIUM, "--allow-loopback-in-peer-connection"] : [...PLAIN_CHROMIUM];
}

/** Mount the React app with <WebcamStream> on the webcam model; true once the model's output shows the camera. */
async function webcamReachesModel(page, server, webcam = true) {
  await page.evaluate((a) => window.e2e.mountReact(a), { apiUrl: server.url, model: "webcam", webcam });
  await page.waitForFunction(() => window.reactFacts.status === "ready", null, { timeout: 20_000 });
  const ok = await page
    .waitForFunction(() => {
      const v = document.querySelector(".w-full.aspect-video > video");
      if (!v || !v.videoWidth) return false;
      const c = document.createElement("canvas");
      c.width = v.videoWidth;
      c.height = v.videoHeight;
      const ctx = c.getContext("2d");
      ctx.drawImage(v, 0, 0);
      const d = ctx.getImageData(Math.floor(v.videoWidth / 2), Math.floor(v.videoHeight / 2), 40, 40).data;
      let spread = 0;
      for (let i = 0; i < d.length; i += 4) spread += Math.abs(d[i] - d[i + 1]);
      return spread / (d.length / 4) >= 4;
    }, null, { timeout: 15_000, polling: 200 })
    .then(() => true, () => false);
  await page.evaluate(() => window.e2e.unmountReact());
  await new Promise((r) => setTimeout(r, 500));
  return ok;
}

/** Scenarios that need a setup of their own: run only when named with --only. */
const EXPLICIT_ONLY = new Set(["noRoute"]);

const scenarios = {
  async coreProbe({ page, servers }) {
    const f = await page.evaluate((a) => window.e2e.coreProbe(a), { apiUrl: servers.probe.url });
    console.log("   ", JSON.stringify({ iceRoute: f.iceRoute, connectMs: Math.round(f.connectMs), commandToFrameMs: Math.round(f.commandToFrameMs), counters: f.counters.slice(0, 8) }));
    check("sendCommand before ready rejects INVALID_STATE", f.sendBeforeReady === "INVALID_STATE", f.sendBeforeReady);
    check("unknown option → TypeError naming the closest key", /TypeError: .*'apiURL'.*'apiUrl'/.test(f.unknownOption), f.unknownOption);
    check("connect() resolves at ready", f.statusAfterConnect === "ready", f.statusAfterConnect);
    check("probe counter advances in the <video>", advancing(f.counters), f.counters);
    check("J3 ready handler ran on connect and on reconnect", f.readyCommands === 2, f.readyCommands);
    check("disconnect(true) keeps the session id", f.afterRecoverableDisconnect.status === "disconnected" && f.afterRecoverableDisconnect.sessionId === f.sessionId, f.afterRecoverableDisconnect);
    check("connect() while a session is held rejects INVALID_STATE", f.connectWhileHeld === "INVALID_STATE", f.connectWhileHeld);
    check("reconnect() resumes the same session", f.afterReconnect.status === "ready" && f.afterReconnect.sessionId === f.sessionId, f.afterReconnect);
    check("the model kept running (counter continues after reconnect)", f.counterAfterReconnect > f.counterBeforeDisconnect, [f.counterBeforeDisconnect, f.counterAfterReconnect]);
    check("a refused command arrives as an error event (invalid_command, gpu, not recoverable)", f.refusedCommandError?.code === "invalid_command" && f.refusedCommandError.component === "gpu" && f.refusedCommandError.recoverable === false, f.refusedCommandError);
    check("oversize command rejects MESSAGE_TOO_LARGE", f.tooLarge === "MESSAGE_TOO_LARGE", f.tooLarge);
    check("disconnect() ends the session", f.afterDisconnect.status === "disconnected" && f.afterDisconnect.sessionId === undefined, f.afterDisconnect);
    check("statuses: connecting → waiting → ready, reconnect skips waiting", JSON.stringify(f.statuses) === JSON.stringify(["connecting", "waiting", "ready", "disconnected", "connecting", "ready", "disconnected"]), f.statuses);
  },

  async coreUpload({ page, servers }) {
    const f = await page.evaluate((a) => window.e2e.coreUpload(a), { apiUrl: servers.echo.url });
    check("uploadFile returns a FileRef", f.fileRef.isFileRef && f.fileRef.name === "photo.png" && f.fileRef.mimeType === "image/png" && f.fileRef.size === 70000 && f.fileRef.uploadId, f.fileRef);
    const image = f.reply?.data?.data?.image;
    check("the echo model received the uploaded bytes (sha256)", f.reply?.type === "echo" && image?.sha256 === f.sha256 && image?.name === "photo.png", f.reply);
    check("scalar arguments travel with the file", f.reply?.data?.data?.weight === 0.8, f.reply?.data?.data);
    check("a session ended by the server arrives as SESSION_TERMINAL with its reason", f.ended?.code === "SESSION_TERMINAL" && f.ended.message.includes("maintenance") && f.ended.recoverable === false, f.ended);
    check("after the end the client is disconnected with no session", f.afterEnd.status === "disconnected" && f.afterEnd.sessionId === undefined, f.afterEnd);
    check("a nested FileRef reaches the model too", f.reply?.data?.data?.nested?.again?.sha256 === f.sha256, f.reply?.data?.data?.nested);
  },

  async coreWebcam({ page, servers }) {
    const f = await page.evaluate((a) => window.e2e.coreWebcam(a), { apiUrl: servers.webcam.url });
    console.log("   ", JSON.stringify({ before: f.beforePublish, after: f.afterPublish }));
    check("publishTrack with an undeclared name throws TypeError listing the inputs", /TypeError: .*webcam/.test(f.wrongName ?? ""), f.wrongName);
    check("before publishing the model shows its grey waiting pattern", f.beforePublish.rgSpread < 2, f.beforePublish);
    check("the synthetic camera reaches the webcam model (tinted output)", f.afterPublish.rgSpread >= 4, f.afterPublish);
    check("the published input is restored after reconnect", f.afterReconnect.rgSpread >= 4, f.afterReconnect);
  },

  async react({ page, servers }) {
    await page.evaluate((a) => window.e2e.mountReact(a), { apiUrl: servers.probe.url });
    await page.waitForFunction(() => window.reactFacts.status === "ready", null, { timeout: 20_000 });
    const view = await page.evaluate(() => window.e2e.reactProbe());
    check("ReactorView shows advancing probe frames", advancing(view.counters), view.counters);
    check("videoObjectFit=cover lands on the <video>", view.objectFit === "cover", view.objectFit);
    const sessionId = await page.evaluate(() => window.reactFacts.sessionId);
    await page.click("#set-value");
    await page.evaluate(() => window.e2e.waitValue(777));
    check("sendCommand from the store changes the frame", true);
    // J4: set_prompt is not a probe command → the server's error lands in lastError.
    await page.click("text=Set prompt");
    await page.waitForFunction(() => window.reactFacts.lastError !== undefined, null, { timeout: 5_000 }).catch(() => undefined);
    const lastError = await page.evaluate(() => window.reactFacts.lastError);
    check("an error reaches useReactor's lastError", lastError?.code === "invalid_command" && lastError.recoverable === false, lastError);
    // J6 through the store: disconnect(true) + reconnect() keeps the session.
    await page.click("#recoverable");
    await page.waitForFunction((id) => window.reactFacts.status === "ready" && window.reactFacts.sessionId === id && window.reactFacts.lastError === undefined, sessionId, { timeout: 15_000 }).catch(() => undefined);
    const after = await page.evaluate(() => ({ status: window.reactFacts.status, sessionId: window.reactFacts.sessionId, lastError: window.reactFacts.lastError }));
    check("store disconnect(true) + reconnect() keeps the session and clears lastError", after.status === "ready" && after.sessionId === sessionId && after.lastError === undefined, after);
    const value = await page.evaluate(() => window.e2e.waitValue(777));
    check("model state survived the reconnect (value still 777)", value.value === 777, value);
    await page.waitForFunction(() => typeof window.reactFacts.fps === "number" && window.reactFacts.fps > 0 && window.reactFacts.incomingBitrate > 0, null, { timeout: 8_000 }).catch(() => undefined);
    const stats = await page.evaluate(() => ({ fps: window.reactFacts.fps, bitrate: window.reactFacts.incomingBitrate, renders: window.reactFacts.renders }));
    check("useStats reports frames per second and bitrate", stats.fps > 0 && stats.bitrate > 0, stats);
    check("no render loop from object selectors", stats.renders < 200, stats.renders);
    // J7: a dropped connection → recoverable DISCONNECTED in lastError → the effect reconnects.
    await page.evaluate(() => window.e2eReactor.transport.data.close());
    await page.waitForFunction(() => window.reactFacts.lastError?.code === "DISCONNECTED", null, { timeout: 5_000 }).catch(() => undefined);
    const dropped = await page.evaluate(() => ({ status: window.reactFacts.status, lastError: window.reactFacts.lastError }));
    check("a dropped channel lands in lastError as DISCONNECTED (gpu, recoverable, no retryAfter)", dropped.lastError?.code === "DISCONNECTED" && dropped.lastError.recoverable === true && dropped.lastError.component === "gpu" && dropped.lastError.retryAfter === undefined, dropped);
    await page.waitForFunction((id) => window.reactFacts.status === "ready" && window.reactFacts.sessionId === id && window.reactFacts.lastError === undefined, sessionId, { timeout: 15_000 }).catch(() => undefined);
    const healed = await page.evaluate(() => ({ status: window.reactFacts.status, sessionId: window.reactFacts.sessionId, lastError: window.reactFacts.lastError }));
    check("the seed's auto-reconnect effect (J7) restores the same session", healed.status === "ready" && healed.sessionId === sessionId && healed.lastError === undefined, healed);
    await page.click("#terminate");
    await page.waitForFunction(() => window.reactFacts.sessionId === undefined, null, { timeout: 5_000 }).catch(() => undefined);
    check("store disconnect() ends the session", await page.evaluate(() => window.reactFacts.sessionId === undefined && window.reactFacts.tracks === ""));
    await page.evaluate(() => window.e2e.unmountReact());
  },

  async reactWebcam({ page, servers }) {
    // <WebcamStream> captures with getUserMedia, which the app answers with a synthetic camera.
    check("<WebcamStream track=\"webcam\"> publishes the (synthetic) camera to the model", await webcamReachesModel(page, servers.webcam));
  },

  // LABELLED VARIANT, the one scenario with a camera permission: Chromium's fake capture device
  // (--use-fake-device-for-media-stream) through a real getUserMedia, in a browser of its own with
  // the camera permission granted. It covers <WebcamStream>'s real capture path and what a webcam
  // app's users see on the network: with a permission granted Chromium offers its host addresses
  // as they are, not behind mDNS names.
  async reactWebcamDevice({ app, servers }) {
    const browser = await chromium.launch({ executablePath: chromiumPath, args: [...browserArgs(), "--use-fake-device-for-media-stream"] });
    try {
      const context = await browser.newContext();
      await context.grantPermissions(["camera"], { origin: app.origin });
      const page = await context.newPage();
      await page.goto(app.origin);
      await page.waitForFunction(() => document.title === "e2e ready", null, { timeout: 15_000 });
      check("[camera permission granted, fake device] <WebcamStream> publishes the camera to the model", await webcamReachesModel(page, servers.webcam, "device"));
    } finally {
      await browser.close();
    }
  },

  async playground({ context, servers }) {
    const page = await context.newPage();
    await page.goto(`${servers.probe.url}/`);
    await page.waitForFunction(() => document.body.dataset.status === "ready", null, { timeout: 20_000 });
    check("the playground at / connects (same origin, local mode)", true);
    const counters = await sampleCounters(page, 1500);
    check("the playground's video advances", advancing(counters), counters);
    await page.fill("input[name=value]", "4321");
    await page.click("text=Send set_value");
    const ok = await page
      .waitForFunction((fn) => new Function(`return (${fn})`)()(".video video")?.value === 4321, decodeInPage.toString(), { timeout: 8_000, polling: 50 })
      .then(() => true, () => false);
    check("the playground's set_value form changes the frame", ok, await page.evaluate((fn) => new Function(`return (${fn})`)()(".video video"), decodeInPage.toString()));
    if (screenshot) {
      await new Promise((r) => setTimeout(r, 2500));
      mkdirSync(dirname(screenshot), { recursive: true });
      await page.screenshot({ path: screenshot });
      console.log(`  screenshot: ${screenshot}`);
    }
    await page.click("text=End session");
    await page.waitForFunction(() => document.body.dataset.status === "disconnected", null, { timeout: 5_000 });
    await page.close();

    const echo = await context.newPage();
    await echo.goto(`${servers.echo.url}/`);
    await echo.waitForFunction(() => document.body.dataset.status === "ready", null, { timeout: 20_000 });
    await echo.setInputFiles("input[name=file]", { name: "note.txt", mimeType: "text/plain", buffer: Buffer.from("hello from the playground") });
    await echo.waitForTimeout(500);
    await echo.click("button:has-text('Send hello')");
    const got = await echo
      .waitForFunction(() => document.querySelector(".messages")?.textContent?.includes("note.txt"), null, { timeout: 8_000 })
      .then(() => true, () => false);
    check("the playground uploads a file and the echo model describes it", got, await echo.evaluate(() => document.querySelector(".messages")?.textContent));
    await echo.click("text=End session");
    await echo.close();
  },

  // Run alone (--only noRoute) in a network namespace with nothing but loopback, the servers on
  // --ice-host 127.0.0.1 and no loopback flag: the browser has no candidate and the server's are
  // all loopback. The page must say so and what to do, early; so must the server's log.
  async noRoute({ context, servers }) {
    const page = await context.newPage();
    await page.goto(`${servers.probe.url}/`);
    const shown = await page
      .waitForFunction(() => document.querySelector(".error")?.textContent ?? "", null, { timeout: 25_000 })
      .then((h) => h.jsonValue(), () => "");
    check("the playground shows a TRANSPORT_ERROR", shown.includes("TRANSPORT_ERROR"), shown);
    check("it names the candidates of both ends", /Local candidates: none\./.test(shown) && /Server candidates: 127\.0\.0\.1:\d+ host\./.test(shown), shown);
    check("it says what to do", shown.includes("without --ice-host") && shown.includes("--allow-loopback-in-peer-connection"), shown);
    check("it fails early, not after the 30 s ready timeout", !shown.includes("not connected within"), shown);
    let log = "";
    for (let i = 0; i < 100 && !(log = servers.probe.output()).includes("is not connecting"); i++) await new Promise((r) => setTimeout(r, 100));
    const warning = log.split("\n").find((l) => l.includes("is not connecting")) ?? "";
    check("the server logs a warning naming the candidates and the fix", warning.includes("WARNING") && /127\.0\.0\.1:\d+ host/.test(warning) && warning.includes("without --ice-host"), log.slice(-2000));
    await page.close();
  },

  async official({ page, servers }) {
    const f = await page.evaluate((a) => window.e2e.official(a), { apiUrl: servers.probe.url, model: "probe" });
    check("official 2.9.0 connects to our server", f.ready, f.statuses);
    check("official 2.9.0: probe frames play and advance", advancing(f.counters ?? []), f.counters);
    check("official 2.9.0: sendCommand reaches the model (value in the frame)", f.valueFrame?.value === 31337, f.valueFrame);
    const g = await page.evaluate((a) => window.e2e.official(a), { apiUrl: servers.echo.url, model: "echo" });
    check("official 2.9.0 against echo: frames play", g.frames > 10 && g.videoSize[0] === 640, { frames: g.frames, size: g.videoSize });
    const reply = JSON.stringify(g.messages);
    check("official 2.9.0: sendCommand reaches the echo model and the reply comes back", reply.includes("hello") && reply.includes("official js-sdk 2.9.0"), g.messages);
    check("official 2.9.0: no errors", g.errors.length === 0 && f.errors.length === 0, [f.errors, g.errors]);
  },
};

async function main() {
  const outDir = join(here, ".dist");
  await build({ configFile: join(here, "vite.config.ts"), logLevel: "warn" });
  const app = await serveStatic(outDir);
  const args = browserArgs();
  console.log(`test app at ${app.origin}; ICE host ${iceHost}; Chromium ${args.slice(PLAIN_CHROMIUM.length).join(" ") || "with no extra flags"}`);
  const [probe, echo, webcam] = await Promise.all([startServer("probe"), startServer("echo"), startServer("webcam")]);
  const servers = { probe, echo, webcam };
  const browser = await chromium.launch({ executablePath: chromiumPath, args });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const consoleLines = [];
  page.on("console", (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
  page.on("pageerror", (e) => consoleLines.push(`[pageerror] ${e.message}`));
  await page.goto(app.origin);
  await page.waitForFunction(() => document.title === "e2e ready", null, { timeout: 15_000 });
  try {
    for (const [name, run] of Object.entries(scenarios)) {
      if (only ? !only.includes(name) : EXPLICIT_ONLY.has(name)) continue;
      console.log(`- ${name}`);
      const t0 = Date.now();
      try {
        await run({ page, context, servers, app });
      } catch (e) {
        failures++;
        console.log(`  FAIL ${name} threw: ${e.message?.split("\n")[0]}`);
      }
      console.log(`  (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    }
  } finally {
    if (process.env.E2E_SHOW_SERVER_LOG) for (const s of Object.values(servers)) console.log(`--- server ${s.model} ---\n${s.output()}`);
    if (failures > 0) {
      console.log("--- browser console ---\n" + consoleLines.slice(-60).join("\n"));
      for (const s of Object.values(servers)) console.log(`--- server ${s.model} ---\n${s.output().slice(-3000)}`);
    }
    await browser.close();
    app.close();
  }
}

let exitCode = 0;
try {
  await main();
} catch (e) {
  console.error(e);
  exitCode = 2;
} finally {
  for (const child of children) child.kill("SIGTERM");
}
console.log(failures === 0 && exitCode === 0 ? "e2e: all passed" : `e2e: ${failures} failed`);
process.exit(exitCode || (failures ? 1 : 0));
