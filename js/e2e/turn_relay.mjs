// Chromium through a TURN relay: opens the playground of the server at URL (our SDK fetches
// ice_servers, so it gets the server's minted TURN credentials), waits for ready and advancing
// probe frames, and reads the selected candidate pair from the peer connection's stats.
// Run by tests/interop/turn_relay_launcher.py in a namespace that reaches only HTTP and TURN;
// prints one line `@@RESULT {...}` for tests/interop/test_turn_relay.py.
//
// usage: node e2e/turn_relay.mjs URL      env: CHROMIUM (default /usr/bin/chromium)
import { chromium } from "playwright-core";

import { sampleCounters } from "./decode.mjs";

const url = process.argv[2];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Keeps every RTCPeerConnection the page makes (and the ICE servers it was given) reachable.
const recordPeerConnections = () => {
  const Native = window.RTCPeerConnection;
  window.__peerConnections = [];
  window.__iceServers = [];
  window.RTCPeerConnection = class extends Native {
    constructor(config, ...rest) {
      super(config, ...rest);
      window.__peerConnections.push(this);
      window.__iceServers.push(...(config?.iceServers ?? []));
    }
  };
};

// The pair ICE selected on the live connection, with its two candidates.
const selectedPair = async () => {
  const pc = window.__peerConnections.filter((p) => p.connectionState === "connected").at(-1);
  if (!pc) return null;
  const byId = new Map();
  (await pc.getStats()).forEach((s) => byId.set(s.id, s));
  const stats = [...byId.values()];
  const transport = stats.find((s) => s.type === "transport" && s.selectedCandidatePairId);
  const pair = transport ? byId.get(transport.selectedCandidatePairId) : undefined;
  if (!pair) return null;
  const side = (c) => c && { type: c.candidateType, address: c.address, relayProtocol: c.relayProtocol };
  const video = stats.find((s) => s.type === "inbound-rtp" && s.kind === "video");
  return {
    state: pair.state,
    bytesReceived: pair.bytesReceived,
    local: side(byId.get(pair.localCandidateId)),
    remote: side(byId.get(pair.remoteCandidateId)),
    framesDecoded: video?.framesDecoded ?? 0,
  };
};

const result = {};
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  // No --allow-loopback-in-peer-connection: the client namespace's veth is an ordinary interface.
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
  ],
});
try {
  const page = await browser.newPage();
  const consoleLines = [];
  page.on("console", (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
  page.on("pageerror", (e) => consoleLines.push(`[pageerror] ${e.message}`));
  await page.addInitScript(recordPeerConnections);
  await page.goto(`${url}/`);
  const t0 = Date.now();
  result.ready = await page
    .waitForFunction(() => document.body.dataset.status === "ready", null, { timeout: 30_000 })
    .then(() => true, () => false);
  result.readyMs = Date.now() - t0;
  result.sessionId = await page.evaluate(() => document.body.dataset.sessionId ?? null);
  // What the SDK handed the browser: URLs and whether credentials came along (never their values).
  result.iceServers = await page.evaluate(() =>
    window.__iceServers.map((s) => ({ urls: s.urls, username: s.username ?? null, hasCredential: Boolean(s.credential) })),
  );
  if (result.ready) {
    result.counters = await sampleCounters(page, 2000);
    result.pair = await page.evaluate(selectedPair);
  }
  // Close the peer connections so Chromium releases its TURN allocation (coturn then logs usage).
  await page.evaluate(() => window.__peerConnections.forEach((pc) => pc.close()));
  await sleep(500);
  result.console = consoleLines.slice(-40);
} catch (e) {
  result.exception = String(e?.stack ?? e);
} finally {
  await browser.close();
}
console.log("@@RESULT " + JSON.stringify(result));
