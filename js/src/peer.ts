/**
 * One WebRTC connection of a session (PROTOCOL.md §3-§5): the `RTCPeerConnection`, its two data
 * channels (`data`: commands, model messages, runtime notices; `control`: track control), the
 * transceivers of the declared tracks, ICE (trickled candidates, the wait until connected, words
 * for a failure), the output tracks gathered into one `MediaStream`, heartbeat and stats timers,
 * and the replies the client waits for on the channels.
 *
 * A `PeerTransport` lives for one offer/answer; a reconnect builds a new one. It reports to the
 * `Reactor` through `PeerHooks`, and asks `current()` first: events of a replaced transport are
 * dropped.
 */

import { encode, type JsonObject } from "./codec.js";
import { ReactorError, asReactorError, type ErrorComponent } from "./errors.js";
import { CLIENT_INFO } from "./http.js";
import { candidatesOfSdp, explainIce, parseCandidate, type CandidateInfo } from "./ice.js";
import type { TrackCapability } from "./session.js";
import { StatsSampler, type ConnectionStats } from "./stats.js";

export type OpenApiDocument = JsonObject;

export const MAX_MESSAGE_BYTES = 262_144;
export const REQUEST_TIMEOUT_MS = 10_000;
export const READY_TIMEOUT_MS = 30_000;
/**
 * With the answer applied, ICE leaves "new" within milliseconds once there is any pair to check.
 * Still "new" this long after, with no local candidate either: this browser has no usable network
 * interface, and nothing will change that (the server's candidates are all in its answer).
 */
export const LOCAL_CANDIDATE_TIMEOUT_MS = 5_000;
export const HEARTBEAT_MS = 5_000;
export const STATS_INTERVAL_MS = 2_000;
const DISCONNECTED_GRACE_MS = 2_500;

export function aborted(operation: string, component: ErrorComponent = "api"): ReactorError {
  return new ReactorError("ABORTED", "cancelled by disconnect()", { component, operation });
}

/** What a transport tells its client. `candidate`, `track`, `trackEnded` and `message` come only while `current()`. */
export interface PeerHooks {
  /** Whether this transport is still the client's (no reconnect or disconnect since). */
  current(): boolean;
  /** Whether the client is `"ready"` (a drop then waits a grace period before it counts). */
  ready(): boolean;
  /** A local ICE candidate (or the end of them), as the `ice_candidates` body. */
  candidate(body: object): void;
  track(name: string, track: MediaStreamTrack, stream: MediaStream): void;
  trackEnded(name: string): void;
  message(raw: string | ArrayBuffer): void;
  /** The connection failed or closed, or a channel closed; the client checks that the transport is still its own (may come more than once). */
  lost(why: string): void;
}

export class PeerTransport {
  readonly pc: RTCPeerConnection;
  readonly data: RTCDataChannel;
  readonly control: RTCDataChannel;
  /** Input tracks' senders, by track name. */
  readonly senders = new Map<string, RTCRtpSender>();
  /** The one stream holding the output tracks, in declared order. */
  readonly stream = new MediaStream();
  readonly outputs = new Map<string, MediaStreamTrack>();
  /** This browser's ICE candidates as gathered, and the server's from its answer (for error messages). */
  readonly localCandidates: CandidateInfo[] = [];
  remoteCandidates: CandidateInfo[] | undefined;
  answeredAt = 0;
  private readonly stats = new StatsSampler();
  private readonly timers: ReturnType<typeof setInterval>[] = [];
  private graceTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly transceivers: [TrackCapability, RTCRtpTransceiver][] = [];
  private readonly byMid = new Map<string, TrackCapability>();

  constructor(
    iceServers: RTCIceServer[],
    private readonly tracks: readonly TrackCapability[],
    private readonly hooks: PeerHooks,
  ) {
    const pc = new RTCPeerConnection({ iceServers });
    this.pc = pc;
    this.data = pc.createDataChannel("data");
    this.control = pc.createDataChannel("control");
    for (const track of tracks) {
      const transceiver = pc.addTransceiver(track.kind, { direction: track.direction });
      this.transceivers.push([track, transceiver]);
      if (track.direction === "sendonly") this.senders.set(track.name, transceiver.sender);
    }
    pc.ontrack = (event) => this.onTrack(event);
    pc.onconnectionstatechange = () => this.onConnectionState();
    for (const channel of [this.data, this.control]) {
      channel.onmessage = (event: MessageEvent) => {
        if (this.hooks.current()) this.hooks.message(event.data as string | ArrayBuffer);
      };
      channel.onclose = () => this.hooks.lost(`data channel '${channel.label}' closed`);
    }
    pc.onicecandidate = (event) => {
      if (!this.hooks.current()) return;
      const c = event.candidate;
      if (c === null) {
        this.hooks.candidate({ candidates: [], is_final: true, client_info: CLIENT_INFO });
      } else if (c.candidate) {
        const info = parseCandidate(c.candidate);
        if (info) this.localCandidates.push(info);
        this.hooks.candidate({
          candidates: [{ candidate: c.candidate, sdp_mid: c.sdpMid, sdp_mline_index: c.sdpMLineIndex }],
          is_final: false,
          client_info: CLIENT_INFO,
        });
      }
    };
  }

  // -- offer / answer --------------------------------------------------------------------------

  /** Create the offer and apply it locally (ICE gathering starts). */
  async createOffer(): Promise<void> {
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
  }

  /** The offer's SDP (after `createOffer`). */
  get localSdp(): string {
    return this.pc.localDescription!.sdp;
  }

  /** Which m-section carries which declared track (the offer's `track_mapping`). */
  trackMapping(): { name: string; kind: string; direction: string; mid: string }[] {
    return this.transceivers.map(([track, transceiver]) => {
      this.byMid.set(String(transceiver.mid), track);
      return { name: track.name, kind: track.kind, direction: track.direction, mid: String(transceiver.mid) };
    });
  }

  async acceptAnswer(sdp: string): Promise<void> {
    this.remoteCandidates = candidatesOfSdp(sdp);
    await this.pc.setRemoteDescription({ type: "answer", sdp });
    this.answeredAt = performance.now();
  }

  /**
   * Resolves once the peer connection and both channels are up. Fails at once when ICE fails, early
   * when ICE has had nothing to check LOCAL_CANDIDATE_TIMEOUT_MS after the answer and this browser
   * has no candidate (no usable network interface), else after READY_TIMEOUT_MS. The message names
   * the candidates of both ends, and what to do when the server's are all loopback.
   */
  waitConnected(signal: AbortSignal, operation: string): Promise<void> {
    const { pc, data, control } = this;
    const isUp = (): boolean => pc.connectionState === "connected" && data.readyState === "open" && control.readyState === "open";
    if (isUp()) return Promise.resolve();
    const states = (): string => `ICE ${pc.iceConnectionState}, gathering ${pc.iceGatheringState}, peer ${pc.connectionState}`;
    const transportError = (what: string): ReactorError =>
      new ReactorError("TRANSPORT_ERROR", explainIce(what, this.localCandidates, this.remoteCandidates), {
        component: "gpu",
        operation,
      });
    return new Promise<void>((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        clearInterval(poll);
        signal.removeEventListener("abort", onAbort);
      };
      const fail = (error: ReactorError): void => {
        cleanup();
        reject(error);
      };
      const check = (): void => {
        if (isUp()) {
          cleanup();
          resolve();
        } else if (pc.connectionState === "failed" || pc.connectionState === "closed" || pc.iceConnectionState === "failed") {
          fail(transportError(`peer connection ${pc.connectionState} during setup (${states()}).`));
        } else if (
          // No local candidate is not enough: Chromium may still connect from a socket it does not
          // signal (the server then learns a peer-reflexive candidate), and ICE leaves "new".
          this.localCandidates.length === 0 &&
          pc.iceConnectionState === "new" &&
          performance.now() - this.answeredAt >= LOCAL_CANDIDATE_TIMEOUT_MS
        ) {
          const after = Math.round((performance.now() - this.answeredAt) / 1000);
          fail(transportError(`no ICE candidate pair to check ${after} s after the answer (${states()}).`));
        }
      };
      const onAbort = (): void => {
        cleanup();
        reject(aborted(operation, "gpu"));
      };
      const timer = setTimeout(() => fail(transportError(`not connected within ${READY_TIMEOUT_MS / 1000} s (${states()}).`)), READY_TIMEOUT_MS);
      const poll = setInterval(check, 50);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  // -- running ---------------------------------------------------------------------------------

  /** The first message (a text ping latches the wire to v0 on the server, PROTOCOL.md §5.2), then `resume_track` for `outputs`. */
  greet(outputs: readonly string[]): void {
    this.data.send(encode({ kind: "ping" }, "client"));
    for (const name of outputs) this.control.send(encode({ kind: "resumeTrack", name }, "client"));
  }

  /** A ping every HEARTBEAT_MS and `onStats` every STATS_INTERVAL_MS, until `close()`. */
  startTimers(onStats: () => void): void {
    this.timers.push(
      setInterval(() => {
        if (this.data.readyState === "open") this.data.send(encode({ kind: "ping" }, "client"));
      }, HEARTBEAT_MS),
      setInterval(onStats, STATS_INTERVAL_MS),
    );
  }

  /** One stats sample (rates from the previous one). */
  async sampleStats(): Promise<ConnectionStats> {
    const report = await this.pc.getStats();
    return this.stats.sample(report, undefined);
  }

  /** Close the connection and drop every handler; returns the names of the outputs it carried. */
  close(): string[] {
    for (const timer of this.timers) clearInterval(timer);
    clearTimeout(this.graceTimer);
    this.pc.ontrack = null;
    this.pc.onicecandidate = null;
    this.pc.onconnectionstatechange = null;
    for (const channel of [this.data, this.control]) {
      channel.onmessage = null;
      channel.onclose = null;
    }
    try {
      this.pc.close();
    } catch {
      // already closed
    }
    return [...this.outputs.keys()];
  }

  private onTrack(event: RTCTrackEvent): void {
    if (!this.hooks.current()) return;
    const spec = this.byMid.get(String(event.transceiver.mid));
    if (!spec || spec.direction !== "recvonly") return;
    const track = event.track;
    this.outputs.set(spec.name, track);
    // One stream for all outputs, in declared order (video first), so `srcObject = stream` stays right.
    const order = this.tracks.filter((t) => t.direction === "recvonly").map((t) => t.name);
    for (const existing of this.stream.getTracks()) this.stream.removeTrack(existing);
    for (const name of order) {
      const t = this.outputs.get(name);
      if (t) this.stream.addTrack(t);
    }
    track.addEventListener("ended", () => {
      if (this.hooks.current()) this.hooks.trackEnded(spec.name);
    });
    this.hooks.track(spec.name, track, this.stream);
  }

  private onConnectionState(): void {
    if (!this.hooks.current()) return;
    const state = this.pc.connectionState;
    if (state === "connected") {
      clearTimeout(this.graceTimer);
      this.graceTimer = undefined;
    } else if (state === "failed" || state === "closed") {
      this.hooks.lost(`peer connection ${state}`);
    } else if (state === "disconnected" && this.hooks.ready() && this.graceTimer === undefined) {
      this.graceTimer = setTimeout(() => {
        this.graceTimer = undefined;
        if (this.pc.connectionState !== "connected") this.hooks.lost("peer connection disconnected");
      }, DISCONNECTED_GRACE_MS);
    }
  }
}

/** Send one text message; refused over MAX_MESSAGE_BYTES (`MESSAGE_TOO_LARGE`) or on a channel that is not open. */
export function sendText(channel: RTCDataChannel, text: string, operation: string): void {
  const size = new TextEncoder().encode(text).length;
  if (size > MAX_MESSAGE_BYTES) {
    throw new ReactorError("MESSAGE_TOO_LARGE", `message of ${size} bytes exceeds ${MAX_MESSAGE_BYTES}; send large data with uploadFile()`, {
      component: "gpu",
      operation,
    });
  }
  if (channel.readyState !== "open") {
    throw new ReactorError("DISCONNECTED", `data channel '${channel.label}' is ${channel.readyState}`, { component: "gpu", operation });
  }
  channel.send(text);
}

interface Pending<T> {
  resolve: (value: T) => void;
  reject: (error: ReactorError) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** The replies the client waits for on the channels: `publish_track` answers and the model's schema. They outlive a transport. */
export class ChannelReplies {
  private readonly publishes = new Map<string, Pending<void>>();
  private readonly schemas: Pending<OpenApiDocument>[] = [];
  private counter = 0;

  /** Ask for the publisher slot of input `name` on `control`; resolves on the server's answer. */
  publishTrack(control: RTCDataChannel, name: string): Promise<void> {
    const requestId = `pub-${++this.counter}`;
    const reply = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.publishes.delete(requestId);
        reject(new ReactorError("REQUEST_TIMEOUT", `no reply to publish_track '${name}' within 10 s`, { component: "gpu", operation: "publish_track" }));
      }, REQUEST_TIMEOUT_MS);
      this.publishes.set(requestId, { resolve, reject, timer });
    });
    sendText(control, encode({ kind: "publishTrack", requestId, name }, "client"), "publish_track");
    return reply;
  }

  /** The server answered publish request `requestId`. */
  published(requestId: string, error: { code: string; message: string } | undefined): void {
    const pending = this.publishes.get(requestId);
    if (!pending) return;
    this.publishes.delete(requestId);
    clearTimeout(pending.timer);
    if (error) pending.reject(new ReactorError(error.code, error.message, { component: "gpu", operation: "publish_track" }));
    else pending.resolve();
  }

  /** Ask for the model's schema on `data`; resolves with the next schema the model sends. */
  schema(data: RTCDataChannel): Promise<OpenApiDocument> {
    return new Promise<OpenApiDocument>((resolve, reject) => {
      const pending: Pending<OpenApiDocument> = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = this.schemas.indexOf(pending);
          if (i >= 0) this.schemas.splice(i, 1);
          reject(new ReactorError("REQUEST_TIMEOUT", "no schema within 10 s", { component: "gpu", operation: "get_schema" }));
        }, REQUEST_TIMEOUT_MS),
      };
      this.schemas.push(pending);
      try {
        sendText(data, encode({ kind: "requestSchema" }, "client"), "get_schema");
      } catch (exc) {
        clearTimeout(pending.timer);
        this.schemas.splice(this.schemas.indexOf(pending), 1);
        reject(asReactorError(exc, { component: "gpu", operation: "get_schema" }));
      }
    });
  }

  /** The model sent its schema: every waiting `schema()` resolves with it. */
  schemaArrived(openapi: OpenApiDocument): void {
    for (const pending of this.schemas.splice(0)) {
      clearTimeout(pending.timer);
      pending.resolve(openapi);
    }
  }

  /** Reject everything still waiting (disconnect, lost connection, session ended). */
  failAll(error: ReactorError): void {
    for (const [id, pending] of this.publishes) {
      clearTimeout(pending.timer);
      pending.reject(error);
      this.publishes.delete(id);
    }
    for (const pending of this.schemas.splice(0)) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
  }
}
