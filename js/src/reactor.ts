/**
 * `Reactor`: the framework-free client (SDK-API.md §2.2).
 *
 * It speaks the per-connection signalling routes (PROTOCOL.md §3.1) and the v0 JSON wire on two
 * data channels: commands, model messages and runtime notices on `data`; track control
 * (`resume_track`, `publish_track`, ...) in the v0 control form on `control` (§5.3).
 *
 * Every transport gets an epoch; events from an older epoch are ignored, and `disconnect()`
 * bumps the epoch, which cancels whatever connect or reconnect is in flight.
 *
 * This module is the orchestration: status, events, and the connect / reconnect / disconnect
 * flows. It drives `session.ts` (the session over HTTP: control plane and signalling calls),
 * `peer.ts` (one RTCPeerConnection with its channels, ICE and tracks, and the replies awaited on
 * the channels) and `commands.ts` (command data to wire text).
 */

import { decode, encode, type WireMessage } from "./codec.js";
import { encodeCommand } from "./commands.js";
import { Emitter } from "./emitter.js";
import { ReactorError, asReactorError, isReactorError, type ErrorComponent } from "./errors.js";
import { FileRef } from "./fileRef.js";
import { CLIENT_INFO, HttpApi } from "./http.js";
import { checkOptions } from "./options.js";
import { ChannelReplies, PeerTransport, aborted, sendText, type OpenApiDocument } from "./peer.js";
import { SessionApi, type Capabilities, type SessionInfo, type TrackCapability } from "./session.js";
import type { ConnectionStats } from "./stats.js";

export type { Capabilities, SessionInfo, TrackCapability } from "./session.js";
export type { OpenApiDocument } from "./peer.js";
export {
  HEARTBEAT_MS,
  LOCAL_CANDIDATE_TIMEOUT_MS,
  MAX_MESSAGE_BYTES,
  READY_TIMEOUT_MS,
  REQUEST_TIMEOUT_MS,
  STATS_INTERVAL_MS,
} from "./peer.js";

export type ReactorStatus = "disconnected" | "connecting" | "waiting" | "ready";

export interface ModelMessage {
  type: string;
  data: unknown;
}

export interface ReactorOptions {
  modelName: string;
  /** The server's base URL (default `http://localhost:8080`, our own server). */
  apiUrl?: string;
  /** Local runtime: no token, `/start_session` and `/stop_session`. */
  local?: boolean;
  jwt?: string;
  /** Called before every HTTP request; a token passed to `connect(jwt)` wins for that connect. */
  getJwt?: () => string | Promise<string>;
  /** Send `resume_track` for every output after each (re)connect (default true). */
  autoResumeTracks?: boolean;
  /** The model's tracks, if known in advance (otherwise taken from the session's capabilities). */
  modelTracks?: TrackCapability[];
}

export interface ConnectOptions {
  maxAttempts?: number;
  sessionId?: string;
  connectionId?: number;
}

export interface ReconnectOptions {
  maxAttempts?: number;
  force?: boolean;
}

export interface UploadOptions {
  name?: string;
  mimeType?: string;
}

export interface ReactorEventCallbacks {
  statusChanged: (status: ReactorStatus) => unknown;
  trackReceived: (name: string, track: MediaStreamTrack, stream: MediaStream) => unknown;
  trackRemoved: (name: string) => unknown;
  message: (message: ModelMessage) => unknown;
  runtimeMessage: (message: { type: string; data: unknown }) => unknown;
  error: (error: ReactorError) => unknown;
  sessionIdChanged: (sessionId: string | undefined) => unknown;
  capabilitiesReceived: (capabilities: Capabilities) => unknown;
  schemaReceived: (schema: OpenApiDocument) => unknown;
  statsUpdate: (stats: ConnectionStats) => unknown;
  sessionExpirationChanged: (epochMs: number | undefined) => unknown;
}

export type ReactorEvent = keyof ReactorEventCallbacks;

export const DEFAULT_API_URL = "http://localhost:8080";
export const LOCAL_API_URL = "http://localhost:8080";

const OPTION_KEYS = ["modelName", "apiUrl", "local", "jwt", "getJwt", "autoResumeTracks", "modelTracks"] as const;
const CONNECT_KEYS = ["maxAttempts", "sessionId", "connectionId"] as const;

export class Reactor extends Emitter<ReactorEventCallbacks> {
  readonly modelName: string;
  readonly apiUrl: string;
  readonly local: boolean;
  private readonly options: ReactorOptions;
  private readonly sessions: SessionApi;

  private status: ReactorStatus = "disconnected";
  private lastError: ReactorError | undefined;
  private sessionId: string | undefined;
  private connectionId: number | undefined;
  private createdSession = false;
  private session: SessionInfo | undefined;
  private capabilities: Capabilities | undefined;
  /** The current connection (the e2e app reads its `pc` and `data`). */
  private transport: PeerTransport | undefined;
  private epoch = 0;
  private abort = new AbortController();
  private connectToken: string | undefined;
  private connecting: Promise<void> | undefined;
  private reconnecting: Promise<void> | undefined;
  private readonly published = new Map<string, MediaStreamTrack>();
  private readonly replies = new ChannelReplies();
  private latestStats: ConnectionStats | undefined;
  private timings = { start: 0, sessionCreated: 0 };

  constructor(options: ReactorOptions) {
    super();
    if (typeof options !== "object" || options === null) throw new TypeError("Reactor: options must be an object");
    checkOptions("Reactor", options, OPTION_KEYS);
    if (typeof options.modelName !== "string" || !options.modelName) {
      throw new TypeError("Reactor: 'modelName' is required (a non-empty string)");
    }
    this.options = { ...options };
    this.modelName = options.modelName;
    this.local = options.local ?? false;
    this.apiUrl = (options.apiUrl ?? (this.local ? LOCAL_API_URL : DEFAULT_API_URL)).replace(/\/+$/, "");
    const api = new HttpApi(this.apiUrl, () => this.resolveToken());
    this.sessions = new SessionApi(api, { modelName: this.modelName, local: this.local, apiUrl: this.apiUrl });
  }

  // -- getters ---------------------------------------------------------------------------------

  getStatus(): ReactorStatus {
    return this.status;
  }

  getState(): { status: ReactorStatus; lastError?: ReactorError } {
    return this.lastError ? { status: this.status, lastError: this.lastError } : { status: this.status };
  }

  getSessionId(): string | undefined {
    return this.sessionId;
  }

  getConnectionId(): number | undefined {
    return this.connectionId;
  }

  getLastError(): ReactorError | undefined {
    return this.lastError;
  }

  getCapabilities(): Capabilities | undefined {
    return this.capabilities;
  }

  getSessionInfo(): SessionInfo | undefined {
    return this.session;
  }

  getStats(): ConnectionStats | undefined {
    return this.latestStats;
  }

  /** Output tracks of the current connection, by name. */
  getTracks(): Record<string, MediaStreamTrack> {
    return Object.fromEntries(this.transport?.outputs ?? []);
  }

  /** The one `MediaStream` holding this connection's output tracks. */
  getStream(): MediaStream | undefined {
    return this.transport?.stream;
  }

  // -- lifecycle -------------------------------------------------------------------------------

  /** Create (or adopt) a session and connect to it; resolves at `"ready"`. */
  connect(jwt?: string, options: ConnectOptions = {}): Promise<void> {
    checkOptions("connect", options, CONNECT_KEYS);
    if (this.connecting) return this.connecting;
    if (this.status === "ready") return Promise.resolve();
    if (typeof jwt === "string" && jwt.startsWith("rk_")) {
      return this.fail(
        new ReactorError(
          "UNAUTHORIZED",
          "connect() was given an API key (rk_…). API keys stay on your server: exchange it there for a short-lived JWT (POST /tokens) and pass the JWT.",
          { component: "api", operation: "connect" },
        ),
      );
    }
    if (this.sessionId !== undefined && this.status === "disconnected" && options.sessionId === undefined) {
      return this.fail(
        new ReactorError(
          "INVALID_STATE",
          `a recoverable session (${this.sessionId}) is held: call reconnect() to resume it or disconnect() to end it`,
          { component: "api", operation: "connect" },
        ),
      );
    }
    this.connectToken = jwt;
    const attempt = this.runConnect(options).finally(() => {
      if (this.connecting === attempt) this.connecting = undefined;
    });
    this.connecting = attempt;
    return attempt;
  }

  private async runConnect(options: ConnectOptions): Promise<void> {
    const epoch = this.epoch;
    const signal = this.abort.signal;
    this.timings = { start: performance.now(), sessionCreated: 0 };
    this.setStatus("connecting");
    let created: string | undefined;
    try {
      if (!this.local && !(await this.resolveToken())) {
        throw new ReactorError("UNAUTHORIZED", "no token: pass a JWT to connect(jwt) or set 'jwt' / 'getJwt'", {
          component: "api",
          operation: "connect",
        });
      }
      let info: SessionInfo;
      if (options.sessionId !== undefined) {
        info = await this.sessions.adoptSession(options.sessionId, signal);
        this.createdSession = false;
      } else {
        info = await this.sessions.createSession(signal, (id) => (created = id));
        this.createdSession = true;
      }
      this.checkEpoch(epoch, "connect");
      this.session = info;
      this.setSessionId(info.session_id);
      this.timings.sessionCreated = performance.now();
      this.capabilities = info.capabilities ?? { tracks: this.options.modelTracks ?? [] };
      this.emit("capabilitiesReceived", this.capabilities);
      this.setStatus("waiting");
      this.connectionId = options.connectionId;
      await this.negotiate(epoch, signal, options.maxAttempts ?? 6, "connect");
    } catch (exc) {
      const error = asReactorError(exc, { component: "api", operation: "connect" });
      if (epoch !== this.epoch || error.code === "ABORTED") {
        if (created !== undefined && this.sessionId !== created) void this.sessions.endSession(created);
        throw aborted("connect");
      }
      this.teardownTransport();
      const toDelete = created;
      this.clearSession();
      this.setStatus("disconnected");
      if (toDelete !== undefined) await this.sessions.endSession(toDelete);
      this.report(error);
      throw error;
    }
  }

  /** Resume the held session over a fresh offer on the same connection id. */
  reconnect(options: ReconnectOptions = {}): Promise<void> {
    checkOptions("reconnect", options, ["maxAttempts", "force"]);
    if (this.reconnecting) return this.reconnecting;
    if (this.status === "ready" && !options.force) return Promise.resolve();
    if (this.connecting) return this.connecting;
    if (this.sessionId === undefined) {
      return this.fail(
        new ReactorError("INVALID_STATE", "no session to reconnect to: call connect() first", {
          component: "api",
          operation: "reconnect",
        }),
      );
    }
    const attempt = this.runReconnect(options).finally(() => {
      if (this.reconnecting === attempt) this.reconnecting = undefined;
    });
    this.reconnecting = attempt;
    return attempt;
  }

  private async runReconnect(options: ReconnectOptions): Promise<void> {
    this.teardownTransport();
    const epoch = ++this.epoch;
    this.abort = new AbortController();
    const signal = this.abort.signal;
    this.timings = { start: performance.now(), sessionCreated: performance.now() };
    this.setStatus("connecting");
    try {
      await this.negotiate(epoch, signal, options.maxAttempts ?? 6, "reconnect");
    } catch (exc) {
      const error = asReactorError(exc, { component: "gpu", operation: "reconnect" });
      if (epoch !== this.epoch || error.code === "ABORTED") throw aborted("reconnect");
      this.teardownTransport();
      if (error.code === "NOT_FOUND" || error.code === "SESSION_TERMINAL") this.clearSession();
      this.setStatus("disconnected");
      this.report(error);
      throw error;
    }
  }

  /**
   * Leave the connection. `disconnect()` ends a session this client created; `disconnect(true)`
   * keeps it on the server (30 s) for `reconnect()`. Safe to call repeatedly; never rejects.
   */
  async disconnect(recoverable = false): Promise<void> {
    this.epoch++;
    this.abort.abort();
    this.abort = new AbortController();
    this.teardownTransport();
    this.replies.failAll(aborted("disconnect", "gpu"));
    if (!recoverable && this.sessionId !== undefined) {
      const id = this.sessionId;
      const created = this.createdSession;
      this.clearSession();
      this.published.clear();
      this.setStatus("disconnected");
      if (created) await this.sessions.endSession(id);
      return;
    }
    this.setStatus("disconnected");
  }

  /** Like `disconnect()`, plus removal of every listener. */
  async dispose(): Promise<void> {
    await this.disconnect();
    this.removeAllListeners();
  }

  [Symbol.dispose](): void {
    void this.dispose();
  }

  /**
   * Page unload: close the transport at once and send a best-effort `keepalive` end-of-session
   * request for a session this client created (the server's keep-alive timer is the backstop).
   */
  closeForUnload(): void {
    this.epoch++;
    this.abort.abort();
    this.teardownTransport();
    const id = this.sessionId;
    if (id !== undefined && this.createdSession) this.sessions.endSessionOnUnload(id);
    this.clearSession();
    this.setStatus("disconnected");
  }

  // -- sending ---------------------------------------------------------------------------------

  /** Send a command to the model (requires `"ready"`). v0 has no replies: resolves `undefined` once sent. */
  async sendCommand(command: string, data: unknown = {}, scope: "application" | "runtime" = "application"): Promise<ModelMessage | undefined> {
    const transport = this.requireReady("send_command");
    sendText(transport.data, encodeCommand(command, data, scope), "send_command");
    return undefined;
  }

  /** Upload a file (requires `"ready"`); resolves once the bytes are stored and announced. */
  async uploadFile(file: Blob, options: UploadOptions = {}): Promise<FileRef> {
    checkOptions("uploadFile", options, ["name", "mimeType"]);
    const transport = this.requireReady("upload_file", "api");
    const sessionId = this.sessionId!;
    const name = options.name ?? ((file as File).name || "upload");
    const mimeType = options.mimeType ?? (file.type || "application/octet-stream");
    if (file.size === 0) throw this.local_error("INVALID_STATE", "cannot upload an empty file", "upload_file", "api");
    const uploadId = await this.sessions.upload(sessionId, file, name, mimeType, this.abort.signal);
    const ref = new FileRef(uploadId, name, mimeType, file.size);
    const live = this.transport === transport ? transport : this.transport;
    if (live && live.data.readyState === "open") {
      sendText(live.data, encode({ kind: "fileUploaded", ...{ uploadId: ref.uploadId, name, mimeType, size: ref.size } }, "client"), "upload_file");
    }
    return ref;
  }

  /** Publish a local track on a declared input (e.g. `"webcam"`); restored after each reconnect. */
  async publishTrack(name: string, track: MediaStreamTrack): Promise<void> {
    const inputs = (this.capabilities?.tracks ?? []).filter((t) => t.direction === "sendonly").map((t) => t.name);
    if (this.capabilities && !inputs.includes(name)) {
      throw new TypeError(`'${name}' is not an input track of this model; declared inputs: ${inputs.length ? inputs.join(", ") : "(none)"}`);
    }
    const transport = this.requireReady("publish_track");
    await this.publishOn(transport, name, track);
    this.published.set(name, track);
  }

  /** Stop publishing an input; never rejects. */
  async unpublishTrack(name: string): Promise<void> {
    this.published.delete(name);
    const transport = this.transport;
    if (!transport) return;
    try {
      await transport.senders.get(name)?.replaceTrack(null);
      if (transport.control.readyState === "open") {
        transport.control.send(encode({ kind: "unpublishTrack", name }, "client"));
      }
    } catch (exc) {
      console.warn("[openreactor] unpublishTrack failed:", exc);
    }
  }

  /** Stop one output track for this connection. */
  async pauseTrack(name: string): Promise<void> {
    const transport = this.requireReady("pause_track");
    sendText(transport.control, encode({ kind: "pauseTrack", name }, "client"), "pause_track");
  }

  /** Start (again) one output track for this connection. */
  async resumeTrack(name: string): Promise<void> {
    const transport = this.requireReady("resume_track");
    sendText(transport.control, encode({ kind: "resumeTrack", name }, "client"), "resume_track");
  }

  /** The model's OpenAPI document (also emitted as `schemaReceived`). */
  getSchema(): Promise<OpenApiDocument> {
    const transport = this.requireReady("get_schema");
    return this.replies.schema(transport.data);
  }

  // -- internals: session ----------------------------------------------------------------------

  private async resolveToken(): Promise<string | undefined> {
    if (this.connectToken) return this.connectToken;
    // An empty answer from the resolver means "no token from here" (the provider's resolver gives
    // "" while its props hold none), so the static token and local mode's placeholder still apply.
    const resolved = this.options.getJwt ? await this.options.getJwt() : undefined;
    if (resolved) return resolved;
    if (this.options.jwt) return this.options.jwt;
    return this.local ? "local" : undefined;
  }

  private setSessionId(id: string | undefined): void {
    if (this.sessionId === id) return;
    this.sessionId = id;
    this.emit("sessionIdChanged", id);
  }

  private clearSession(): void {
    this.connectionId = undefined;
    this.createdSession = false;
    this.session = undefined;
    this.setSessionId(undefined);
  }

  // -- internals: transport --------------------------------------------------------------------

  private checkEpoch(epoch: number, operation: string): void {
    if (epoch !== this.epoch) throw aborted(operation);
  }

  /** Signalling for one connection, then wait until it is up and become ready. */
  private async negotiate(epoch: number, signal: AbortSignal, maxAttempts: number, operation: string): Promise<void> {
    const caps = this.capabilities ?? { tracks: [] };
    const sessionId = this.sessionId!;
    const iceServers = await this.sessions.iceServers(sessionId, operation, signal);
    this.checkEpoch(epoch, operation);
    const firstOffer = this.connectionId === undefined;
    if (firstOffer) {
      const connectionId = await this.sessions.createConnection(sessionId, operation, signal);
      this.checkEpoch(epoch, operation);
      this.connectionId = connectionId;
    }
    const cid = this.connectionId!;

    // Trickle ICE: candidates go out in order, on the connection id we already hold.
    const sendCandidates = this.sessions.candidateSender(sessionId, cid, operation, signal);
    const current = (): boolean => epoch === this.epoch;
    const transport: PeerTransport = new PeerTransport(iceServers, caps.tracks, {
      current,
      ready: () => this.status === "ready",
      candidate: sendCandidates,
      track: (name, track, stream) => this.emit("trackReceived", name, track, stream),
      trackEnded: (name) => this.emit("trackRemoved", name),
      message: (raw) => this.onChannelMessage(raw),
      lost: (why) => this.onTransportLost(transport, current, why),
    });
    this.transport = transport;

    await transport.createOffer();
    this.checkEpoch(epoch, operation);
    const trackMapping = transport.trackMapping();
    await this.sessions.sendOffer(
      sessionId,
      cid,
      firstOffer,
      { sdp_offer: transport.localSdp, client_info: CLIENT_INFO, track_mapping: trackMapping },
      operation,
      signal,
    );
    this.checkEpoch(epoch, operation);
    const answer = await this.sessions.pollAnswer(sessionId, cid, maxAttempts, signal, operation);
    this.checkEpoch(epoch, operation);
    await transport.acceptAnswer(answer);
    this.checkEpoch(epoch, operation);
    await transport.waitConnected(signal, operation);
    this.checkEpoch(epoch, operation);
    await this.becomeReady(transport, current);
  }

  private async becomeReady(transport: PeerTransport, current: () => boolean): Promise<void> {
    const outputs = (this.capabilities?.tracks ?? []).filter((t) => t.direction === "recvonly").map((t) => t.name);
    transport.greet(this.options.autoResumeTracks !== false ? outputs : []);
    transport.startTimers(() => void this.sampleStats(transport, current));
    // Re-apply published inputs (after a reconnect); a refusal is reported, not fatal.
    for (const [name, track] of this.published) {
      try {
        await this.publishOn(transport, name, track);
      } catch (exc) {
        this.report(asReactorError(exc, { component: "gpu", operation: "publish_track" }));
      }
    }
    if (!current()) throw aborted("connect");
    this.setStatus("ready");
  }

  private publishOn(transport: PeerTransport, name: string, track: MediaStreamTrack): Promise<void> {
    const sender = transport.senders.get(name);
    if (!sender) return Promise.reject(new TypeError(`no transceiver for input '${name}'`));
    return this.replies.publishTrack(transport.control, name).then(() => sender.replaceTrack(track));
  }

  /** A ready transport died: keep the session for `reconnect()` and report `DISCONNECTED`. */
  private onTransportLost(transport: PeerTransport, current: () => boolean, why: string): void {
    if (!current() || this.status !== "ready" || this.transport !== transport) return;
    this.epoch++;
    this.teardownTransport();
    this.replies.failAll(new ReactorError("DISCONNECTED", `connection lost: ${why}`, { component: "gpu" }));
    this.setStatus("disconnected");
    this.report(new ReactorError("DISCONNECTED", `connection lost: ${why}`, { component: "gpu" }));
  }

  private onChannelMessage(raw: string | ArrayBuffer): void {
    let msg: WireMessage;
    try {
      msg = decode(raw, "server");
    } catch (exc) {
      // Envelope-less JSON goes to `message` whole, non-JSON text as a raw string.
      if (typeof raw === "string") {
        let value: unknown = raw;
        try {
          value = JSON.parse(raw);
        } catch {
          // not JSON
        }
        this.emit("message", value as ModelMessage);
      } else {
        console.debug("[openreactor] undecodable message", exc);
      }
      return;
    }
    switch (msg.kind) {
      case "message":
        this.emit("message", { type: msg.type, data: msg.data });
        break;
      case "error":
        this.report(new ReactorError(msg.code, msg.message || msg.code, { component: "gpu" }));
        break;
      case "publishTrackResponse":
        this.replies.published(msg.requestId, msg.error);
        break;
      case "modelSchema":
        this.emit("schemaReceived", msg.openapi);
        this.replies.schemaArrived(msg.openapi);
        break;
      case "sessionEnded":
        this.emit("runtimeMessage", { type: "sessionEnded", data: { reason: msg.reason } });
        this.onSessionEnded(msg.reason);
        break;
      case "moderation":
        this.emit("runtimeMessage", {
          type: "moderation",
          data: { action: msg.action, input_kind: msg.inputKind, command: msg.command, categories: msg.categories, message: msg.message },
        });
        break;
      case "clipReady":
      case "clipFailed": {
        const { kind, ...data } = msg;
        this.emit("runtimeMessage", { type: kind, data });
        break;
      }
      default:
        break;
    }
  }

  private onSessionEnded(reason: string): void {
    this.epoch++;
    this.teardownTransport();
    const error = new ReactorError("SESSION_TERMINAL", `the session ended: ${reason || "no reason given"}`, { component: "gpu" });
    this.replies.failAll(error);
    this.clearSession();
    this.published.clear();
    this.setStatus("disconnected");
    this.report(error);
  }

  private teardownTransport(): void {
    const transport = this.transport;
    if (!transport) return;
    this.transport = undefined;
    for (const name of transport.close()) this.emit("trackRemoved", name);
    this.latestStats = undefined;
  }

  private async sampleStats(transport: PeerTransport, current: () => boolean): Promise<void> {
    if (!current()) return;
    try {
      const stats = await transport.sampleStats();
      const sessionCreationMs = this.timings.sessionCreated - this.timings.start;
      if (this.timings.sessionCreated > 0) {
        const totalMs = performance.now() - this.timings.start;
        stats.connectionTimings = { sessionCreationMs, transportConnectingMs: totalMs - sessionCreationMs, totalMs };
      }
      if (!current()) return;
      this.latestStats = stats;
      this.emit("statsUpdate", stats);
    } catch (exc) {
      console.debug("[openreactor] getStats failed", exc);
    }
  }

  // -- internals: helpers ----------------------------------------------------------------------

  private requireReady(operation: string, component: ErrorComponent = "gpu"): PeerTransport {
    const transport = this.transport;
    if (this.status !== "ready" || !transport) {
      throw this.local_error("INVALID_STATE", `${operation} needs status "ready" (status is "${this.status}"): wait for ready first`, operation, component);
    }
    return transport;
  }

  private local_error(code: string, message: string, operation: string, component: ErrorComponent = "gpu"): ReactorError {
    return new ReactorError(code, message, { component, operation });
  }

  private fail(error: ReactorError): Promise<never> {
    this.report(error);
    return Promise.reject(error);
  }

  private report(error: ReactorError): void {
    if (error.code === "ABORTED") return;
    this.lastError = error;
    this.emit("error", error);
  }

  private setStatus(status: ReactorStatus): void {
    if (this.status === status) return;
    this.status = status;
    if (status === "connecting") this.lastError = undefined;
    this.emit("statusChanged", status);
  }
}

export { isReactorError };
