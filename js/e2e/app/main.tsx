// Scenarios the e2e runner (../run.mjs) calls through `window.e2e`; each returns facts to assert.
import { useEffect } from "react";
import { createRoot, type Root } from "react-dom/client";
import { Reactor as OfficialReactor } from "reactor-official";

import {
  Reactor,
  ReactorProvider,
  ReactorView,
  WebcamStream,
  isFileRef,
  useReactor,
  useReactorMessage,
  useStats,
  type ReactorError,
} from "@reactor-team/js-sdk";
import { Reactor as CoreReactor } from "@reactor-team/js-sdk/core";

import { syntheticCamera, useSyntheticGetUserMedia } from "./camera.js";
import { decodeProbe, regionStats, sampleProbe, sleep, waitProbe } from "./probe.js";

interface Args {
  apiUrl: string;
}

const videoEl = (): HTMLVideoElement => document.getElementById("video") as HTMLVideoElement;

function errorFacts(e: ReactorError | undefined): Record<string, unknown> | undefined {
  if (!e) return undefined;
  return { code: e.code, component: e.component, recoverable: e.recoverable, retryAfter: e.retryAfter, message: e.message, timestamp: e.timestamp };
}

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The selected candidate pair (local/remote candidate types and addresses), from getStats(). */
async function iceRoute(reactor: unknown): Promise<Record<string, unknown>> {
  const pc = (reactor as { transport?: { pc: RTCPeerConnection } }).transport?.pc;
  if (!pc) return {};
  const report = await pc.getStats();
  const all = new Map<string, Record<string, unknown>>();
  report.forEach((e: Record<string, unknown>) => all.set(String(e["id"]), e));
  const selected = [...all.values()].find((e) => e["type"] === "transport")?.["selectedCandidatePairId"];
  for (const e of all.values()) {
    if (e["type"] === "candidate-pair" && (e["id"] === selected || (selected === undefined && e["state"] === "succeeded"))) {
      const l = all.get(String(e["localCandidateId"]));
      const r = all.get(String(e["remoteCandidateId"]));
      return { local: `${l?.["candidateType"]} ${l?.["address"]}:${l?.["port"]}`, remote: `${r?.["candidateType"]} ${r?.["address"]}:${r?.["port"]}` };
    }
  }
  return {};
}

// -- core, probe model ---------------------------------------------------------------------------

async function coreProbe({ apiUrl }: Args): Promise<Record<string, unknown>> {
  const facts: Record<string, unknown> = {};
  const reactor = new Reactor({ modelName: "probe", apiUrl, local: true });
  const statuses: string[] = [];
  const errors: Record<string, unknown>[] = [];
  reactor.on("statusChanged", (s) => void statuses.push(s));
  reactor.on("error", (e) => void errors.push(errorFacts(e)!));

  // Seed J1, verbatim.
  const video = document.getElementById("video") as HTMLVideoElement;
  reactor.on("trackReceived", (name, track, stream) => {
    video.srcObject = stream;
  });
  // Seed J3 (set_value instead of set_prompt: the probe's command).
  let readyCommands = 0;
  reactor.on("statusChanged", async (status) => {
    if (status === "ready") {
      await reactor.sendCommand("set_value", { value: 4242 });
      readyCommands++;
    }
  });

  facts["sendBeforeReady"] = await reactor.sendCommand("set_value", { value: 1 }).then(
    () => "resolved",
    (e: ReactorError) => e.code,
  );
  try {
    new Reactor({ modelName: "probe", apiURL: apiUrl } as never);
    facts["unknownOption"] = "accepted";
  } catch (e) {
    facts["unknownOption"] = `${(e as Error).name}: ${(e as Error).message}`;
  }

  const t0 = performance.now();
  await reactor.connect();
  facts["connectMs"] = performance.now() - t0;
  facts["iceRoute"] = await iceRoute(reactor);
  facts["statusAfterConnect"] = reactor.getStatus();
  const sessionId = reactor.getSessionId();
  facts["sessionId"] = sessionId;
  await waitProbe(video, () => true, 10_000, "a decodable probe frame");
  const samples = await sampleProbe(video, 1500);
  facts["counters"] = samples.map((s) => s.counter);
  await waitProbe(video, (c) => c.value === 4242, 5_000, "value 4242 set by the ready handler");
  await reactor.sendCommand("set_value", { value: 1234 });
  const t1 = performance.now();
  await waitProbe(video, (c) => c.value === 1234, 5_000, "value 1234 after sendCommand");
  facts["commandToFrameMs"] = performance.now() - t1;
  const before = decodeProbe(video)!;

  // Seed J5: disconnect(true) keeps the session; reconnect() resumes it.
  await reactor.disconnect(true);
  facts["afterRecoverableDisconnect"] = { status: reactor.getStatus(), sessionId: reactor.getSessionId() };
  facts["connectWhileHeld"] = await reactor.connect().then(
    () => "resolved",
    (e: ReactorError) => e.code,
  );
  await reactor.reconnect();
  facts["afterReconnect"] = { status: reactor.getStatus(), sessionId: reactor.getSessionId() };
  const resumed = await waitProbe(video, (c) => c.counter > before.counter, 10_000, "frames after reconnect");
  facts["counterBeforeDisconnect"] = before.counter;
  facts["counterAfterReconnect"] = resumed.counter;
  facts["readyCommands"] = readyCommands;

  // A command the model refuses: the server's error arrives as an `error` event.
  const errorSeen = new Promise<ReactorError>((resolve) => {
    const off = reactor.on("error", (e) => {
      off();
      resolve(e);
    });
  });
  await reactor.sendCommand("set_value", { value: "not a number" });
  facts["refusedCommandError"] = errorFacts(await Promise.race([errorSeen, sleep(5000).then(() => undefined)]));

  // Oversize payloads are refused before sending.
  facts["tooLarge"] = await reactor.sendCommand("set_value", { value: 1, pad: "x".repeat(300_000) }).then(
    () => "resolved",
    (e: ReactorError) => e.code,
  );

  await reactor.disconnect();
  facts["afterDisconnect"] = { status: reactor.getStatus(), sessionId: reactor.getSessionId() };
  facts["statuses"] = statuses;
  facts["errors"] = errors;
  return facts;
}

// -- core, echo model: uploads reach the model ---------------------------------------------------

async function coreUpload({ apiUrl }: Args): Promise<Record<string, unknown>> {
  const facts: Record<string, unknown> = {};
  const reactor = new CoreReactor({ modelName: "echo", apiUrl, local: true });
  const messages: { type: string; data: unknown }[] = [];
  reactor.on("message", (m) => void messages.push(m));
  await reactor.connect();
  const bytes = new Uint8Array(70_000).map((_, i) => (i * 31 + 7) % 251);
  const file = new File([bytes], "photo.png", { type: "image/png" });
  const ref = await reactor.uploadFile(file);
  facts["fileRef"] = { uploadId: ref.uploadId, name: ref.name, mimeType: ref.mimeType, size: ref.size, isFileRef: isFileRef(ref) };
  await reactor.sendCommand("send_image", { image: ref, weight: 0.8, nested: { again: ref } });
  const end = performance.now() + 10_000;
  while (performance.now() < end && messages.length === 0) await sleep(20);
  facts["reply"] = messages[0];
  facts["sha256"] = await sha256Hex(bytes);
  // The session ends on the server (another caller stops it): the client is told why.
  const ended = new Promise<ReactorError>((resolve) => reactor.on("error", resolve));
  await fetch(`${apiUrl}/stop_session`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ reason: "maintenance" }) });
  facts["ended"] = errorFacts(await Promise.race([ended, sleep(5000).then(() => undefined)]));
  facts["afterEnd"] = { status: reactor.getStatus(), sessionId: reactor.getSessionId() };
  await reactor.disconnect();
  return facts;
}

// -- core, webcam model: a synthetic camera (canvas.captureStream) reaches the model --------------

async function coreWebcam({ apiUrl }: Args): Promise<Record<string, unknown>> {
  const facts: Record<string, unknown> = {};
  const reactor = new Reactor({ modelName: "webcam", apiUrl, local: true });
  const video = videoEl();
  reactor.on("trackReceived", (_name, _track, stream) => {
    video.srcObject = stream;
  });
  await reactor.connect();
  const end0 = performance.now() + 10_000;
  while (performance.now() < end0 && video.videoWidth === 0) await sleep(50);
  await sleep(500);
  facts["beforePublish"] = regionStats(video, 0.2, 0.2, 0.8, 0.8);
  try {
    await reactor.publishTrack("mic", new MediaStream().getVideoTracks()[0]!);
  } catch (e) {
    facts["wrongName"] = `${(e as Error).name}: ${(e as Error).message}`;
  }
  const camera = syntheticCamera(640, 480);
  await reactor.publishTrack("webcam", camera.track);
  let after = regionStats(video, 0.2, 0.2, 0.8, 0.8);
  const end = performance.now() + 10_000;
  while (performance.now() < end && after.rgSpread < 4) {
    await sleep(100);
    after = regionStats(video, 0.2, 0.2, 0.8, 0.8);
  }
  facts["afterPublish"] = after;
  // A reconnect restores the published input.
  await reactor.disconnect(true);
  await reactor.reconnect();
  await sleep(1500);
  facts["afterReconnect"] = regionStats(video, 0.2, 0.2, 0.8, 0.8);
  await reactor.disconnect();
  camera.stop();
  return facts;
}

// -- React: provider, view, hooks ------------------------------------------------------------------

const reactFacts: Record<string, unknown> = { renders: 0, messages: [] as unknown[] };
(window as unknown as { reactFacts: unknown }).reactFacts = reactFacts;

// Seed J4, verbatim.
function Controls() {
  const { sendCommand, status } = useReactor((s) => s);
  return (
    <button
      disabled={status !== "ready"}
      onClick={() => sendCommand("set_prompt", { prompt: "a forest at dawn" })}
    >
      Set prompt
    </button>
  );
}

function SessionButtons() {
  // Seed J6.
  const { disconnect, reconnect } = useReactor((s) => s);
  const sendCommand = useReactor((s) => s.sendCommand);
  return (
    <>
      <button id="recoverable" onClick={async () => {
        await disconnect(true);
        await reconnect();
      }}>
        disconnect(true) + reconnect()
      </button>
      <button id="terminate" onClick={() => disconnect()}>disconnect()</button>
      <button id="set-value" onClick={() => sendCommand("set_value", { value: 777 })}>set_value 777</button>
    </>
  );
}

function AutoReconnect() {
  // Seed J7, verbatim.
  const { reconnect, lastError } = useReactor((s) => ({
    reconnect: s.reconnect,
    lastError: s.lastError,
  }));
  useEffect(() => {
    if (lastError?.recoverable) {
      const timer = setTimeout(() => reconnect(), (lastError.retryAfter ?? 3) * 1000);
      return () => clearTimeout(timer);
    }
  }, [lastError, reconnect]);
  return null;
}

function Reporter() {
  const state = useReactor((s) => ({ status: s.status, lastError: s.lastError, sessionId: s.sessionId, tracks: Object.keys(s.tracks).join(",") }));
  const stats = useStats();
  (window as unknown as { e2eReactor: unknown }).e2eReactor = useReactor((s) => s.internal.reactor);
  useReactorMessage((m) => (reactFacts["messages"] as unknown[]).push(m));
  reactFacts["renders"] = (reactFacts["renders"] as number) + 1;
  reactFacts["status"] = state.status;
  reactFacts["lastError"] = errorFacts(state.lastError);
  reactFacts["sessionId"] = state.sessionId;
  reactFacts["tracks"] = state.tracks;
  reactFacts["fps"] = stats?.framesPerSecond;
  reactFacts["incomingBitrate"] = stats?.incomingBitrate;
  return null;
}

let root: Root | undefined;
let restoreGetUserMedia: (() => void) | undefined;

/**
 * `webcam`: mount `<WebcamStream>`, whose getUserMedia answers with a synthetic camera, or with
 * `"device"` the browser's own (the one scenario that runs with a camera permission granted).
 */
function mountReact({ apiUrl, model = "probe", webcam = false }: Args & { model?: string; webcam?: boolean | "device" }): void {
  unmountReact();
  if (webcam === true) restoreGetUserMedia = useSyntheticGetUserMedia();
  const host = document.getElementById("root")!;
  root = createRoot(host);
  root.render(
    <ReactorProvider modelName={model} apiUrl={apiUrl} local connectOptions={{ autoConnect: true }}>
      {/* Seed J2, verbatim. */}
      <ReactorView className="w-full aspect-video" videoObjectFit="cover"/>
      <Controls />
      <SessionButtons />
      <AutoReconnect />
      <Reporter />
      {webcam !== false ? <WebcamStream track="webcam" className="webcam" /> : null}
    </ReactorProvider>,
  );
}

function unmountReact(): void {
  root?.unmount();
  root = undefined;
  restoreGetUserMedia?.();
  restoreGetUserMedia = undefined;
}

function reactVideo(): HTMLVideoElement | null {
  return document.querySelector(".w-full.aspect-video > video");
}

async function reactProbe(): Promise<Record<string, unknown>> {
  const video = reactVideo();
  if (!video) throw new Error("ReactorView rendered no <video> inside the className wrapper");
  const first = await waitProbe(video, () => true, 10_000, "probe frame in ReactorView");
  const samples = await sampleProbe(video, 1000);
  return { first, counters: samples.map((s) => s.counter), objectFit: getComputedStyle(video).objectFit, value: decodeProbe(video)?.value };
}

async function waitValue(value: number): Promise<Record<string, unknown>> {
  const video = reactVideo()!;
  const code = await waitProbe(video, (c) => c.value === value, 8_000, `value ${value} in ReactorView`);
  return { ...code };
}

// -- the official @reactor-team/js-sdk@2.9.0 against our server (legacy flat routes, v0) -----------

async function official({ apiUrl, model }: Args & { model: string }): Promise<Record<string, unknown>> {
  const facts: Record<string, unknown> = {};
  const video = videoEl();
  video.srcObject = null;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const reactor: any = new (OfficialReactor as any)({ modelName: model, apiUrl, local: true });
  const messages: unknown[] = [];
  const statuses: unknown[] = [];
  const errors: unknown[] = [];
  reactor.on("statusChanged", (s: unknown) => statuses.push(s));
  reactor.on("message", (m: unknown) => messages.push(m));
  reactor.on("error", (e: unknown) => errors.push(String((e as Error)?.message ?? e)));
  reactor.on("trackReceived", (_name: string, _track: MediaStreamTrack, stream: MediaStream) => {
    video.srcObject = stream;
  });
  await reactor.connect("local");
  const end = performance.now() + 15_000;
  while (performance.now() < end && reactor.getStatus?.() !== "ready" && !statuses.includes("ready")) await sleep(50);
  facts["ready"] = statuses.includes("ready");
  if (model === "probe") {
    await waitProbe(video, () => true, 10_000, "probe frame through the official client");
    facts["counters"] = (await sampleProbe(video, 1000)).map((s) => s.counter);
    await reactor.sendCommand("set_value", { value: 31337 });
    facts["valueFrame"] = await waitProbe(video, (c) => c.value === 31337, 8_000, "set_value through the official client");
  } else {
    const end2 = performance.now() + 10_000;
    let frames = 0;
    const count = (): void => {
      frames++;
      if (performance.now() < end2) video.requestVideoFrameCallback(count);
    };
    video.requestVideoFrameCallback(count);
    await reactor.sendCommand("hello", { from: "official js-sdk 2.9.0" });
    while (performance.now() < end2 && messages.length === 0) await sleep(50);
    await sleep(1000);
    facts["frames"] = frames;
    facts["videoSize"] = [video.videoWidth, video.videoHeight];
  }
  facts["messages"] = messages;
  facts["statuses"] = statuses;
  facts["errors"] = errors;
  await reactor.disconnect();
  return facts;
}

(window as unknown as { e2e: unknown }).e2e = {
  coreProbe,
  coreUpload,
  coreWebcam,
  mountReact,
  unmountReact,
  reactProbe,
  waitValue,
  official,
  decode: () => decodeProbe(videoEl()),
};
document.title = "e2e ready";
