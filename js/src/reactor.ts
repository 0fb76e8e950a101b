/**
 * `Reactor`: the framework-free client (SDK-API.md §2.2).
 *
 * It speaks the per-connection signalling routes (PROTOCOL.md §3.1) and the v0 JSON wire on two
 * data channels: commands, model messages and runtime notices on `data`; track control
 * (`resume_track`, `publish_track`, ...) in the v0 control form on `control` (§5.3).
 *
 * Every transport gets an epoch; events from an older epoch are ignored, and `disconnect()`
 * bumps the epoch, which cancels whatever connect or reconnect is in flight.
 */

import { decode, encode, type JsonObject, type UploadFields, type WireMessage } from "./codec.js";
import { Emitter } from "./emitter.js";
import { ReactorError, asReactorError, isReactorError, type ErrorComponent } from "./errors.js";
import { FileRef, isFileRef } from "./fileRef.js";
import { CLIENT_INFO, HttpApi, sleep } from "./http.js";
import { candidatesOfSdp, explainIce, parseCandidate, type CandidateInfo } from "./ice.js";
import { checkOptions } from "./options.js";
import { StatsSampler, type ConnectionStats } from "./stats.js";

export type ReactorStatus = "disconnected" | "connecting" | "waiting" | "ready";

export interface TrackCapability {
  name: string;
  kind: "video" | "audio";
  direction: "recvonly" | "sendonly";
}

export interface Capabilities {
  protocol_version?: string;
  tracks: TrackCapability[];
  commands?: unknown[];
  emission_fps?: number | null;
  [key: string]: unknown;
}

export interface SessionInfo {
  session_id: string;
  state?: string;
  cluster?: string;
  model?: { name: string; version?: string };
  capabilities?: Capabilities;
  selected_transport?: { protocol: string; version: string };
  [key: string]: unknown;
}

export interface ModelMessage {
  type: string;
  data: unknown;
}

export type OpenApiDocument = JsonObject;

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
const SESSION_POLL_ATTEMPTS = 20;
const DISCONNECTED_GRACE_MS = 2_500;

const OPTION_KEYS = ["modelName", "apiUrl", "local", "jwt", "getJwt", "autoResumeTracks", "modelTracks"] as const;
const CONNECT_KEYS = ["maxAttempts", "sessionId", "connectionId"] as const;

/** One WebRTC connection attempt; replaced wholesale on every reconnect. */
interface Transport {
  epoch: number;
  pc: RTCPeerConnection;
  data: RTCDataChannel;
  control: RTCDataChannel;
  senders: Map<string, RTCRtpSender>;
  stream: MediaStream;
  outputs: Map<string, MediaStreamTrack>;
  timers: ReturnType<typeof setInterval>[];
  graceTimer?: ReturnType<typeof setTimeout> | undefined;
  stats: StatsSampler;
  /** This browser's ICE candidates as gathered, and the server's from its answer (for error messages). */
  localCandidates: CandidateInfo[];
  remoteCandidates?: CandidateInfo[] | undefined;
  answeredAt: number;
}

interface Pending<T> {
  resolve: (value: T) => void;
  reject: (error: ReactorError) => void;
  timer: ReturnType<typeof setTimeout>;
}

function aborted(operation: string, component: ErrorComponent = "api"): ReactorError {
  return new ReactorError("ABORTED", "cancelled by disconnect()", { component, operation });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

export class Reactor extends Emitter<ReactorEventCallbacks> {
  readonly modelName: string;
  readonly apiUrl: string;
  readonly local: boolean;
  private readonly options: ReactorOptions;
  private readonly api: HttpApi;

  private status: ReactorStatus = "disconnected";
  private lastError: ReactorError | undefined;
  private sessionId: string | undefined;
  private connectionId: number | undefined;
  private createdSession = false;
  private session: SessionInfo | undefined;
  private capabilities: Capabilities | undefined;
  private transport: Transport | undefined;
  private epoch = 0;
  private abort = new AbortController();
  private connectToken: string | undefined;
  private connecting: Promise<void> | undefined;
  private reconnecting: Promise<void> | undefined;
  private readonly published = new Map<string, MediaStreamTrack>();
  private readonly pendingPublish = new Map<string, Pending<void>>();
  private readonly pendingSchema: Pending<OpenApiDocument>[] = [];
  private requestCounter = 0;
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
    this.api = new HttpApi(this.apiUrl, () => this.resolveToken());
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
        info = await this.adoptSession(options.sessionId, signal);
        this.createdSession = false;
      } else {
        info = await this.createSession(signal, (id) => (created = id));
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
        if (created !== undefined && this.sessionId !== created) void this.endSession(created);
        throw aborted("connect");
      }
      this.teardownTransport();
      const toDelete = created;
      this.clearSession();
      this.setStatus("disconnected");
      if (toDelete !== undefined) await this.endSession(toDelete);
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
    this.failPending(aborted("disconnect", "gpu"));
    if (!recoverable && this.sessionId !== undefined) {
      const id = this.sessionId;
      const created = this.createdSession;
      this.clearSession();
      this.published.clear();
      this.setStatus("disconnected");
      if (created) await this.endSession(id);
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
    if (id !== undefined && this.createdSession) {
      const path = this.local ? "/stop_session" : `/sessions/${encodeURIComponent(id)}`;
      const method = this.local ? "POST" : "DELETE";
      void this.api.request(method, path, { operation: "disconnect", keepalive: true, alsoOk: [404, 409] }).catch(() => undefined);
    }
    this.clearSession();
    this.setStatus("disconnected");
  }

  // -- sending ---------------------------------------------------------------------------------

  /** Send a command to the model (requires `"ready"`). v0 has no replies: resolves `undefined` once sent. */
  async sendCommand(command: string, data: unknown = {}, scope: "application" | "runtime" = "application"): Promise<ModelMessage | undefined> {
    const transport = this.requireReady("send_command");
    let payload: unknown = data;
    if (typeof payload === "string") {
      try {
        payload = JSON.parse(payload);
      } catch {
        throw this.local_error("DECODE_FAILED", "command data is a string that is not JSON", "send_command");
      }
    }
    if (payload === undefined || payload === null) payload = {};
    if (!isPlainObject(payload)) {
      throw this.local_error("DECODE_FAILED", "command data must be a JSON object", "send_command");
    }
    let text: string;
    if (scope === "runtime") {
      text = JSON.stringify({ scope: "runtime", data: { type: command, data: payload } });
    } else {
      const args: JsonObject = {};
      const uploads: Record<string, UploadFields> = {};
      for (const [key, value] of Object.entries(payload)) {
        if (isFileRef(value)) uploads[key] = { uploadId: value.uploadId, name: value.name, mimeType: value.mimeType, size: value.size };
        else args[key] = value;
      }
      // Nested FileRefs become their wire objects through FileRef.toJSON.
      const plain = JSON.parse(JSON.stringify(args)) as JsonObject;
      text = encode({ kind: "command", type: command, data: plain, uploads }, "client");
    }
    this.sendText(transport.data, text, "send_command");
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
    const signal = this.abort.signal;
    const { data: slot } = await this.api.json<{ presigned_id: string; presigned_url: string }>(
      "POST",
      `/sessions/${encodeURIComponent(sessionId)}/uploads`,
      { operation: "upload_file", body: { name, size: file.size, mime_type: mimeType }, signal },
    );
    if (!slot || typeof slot.presigned_id !== "string" || typeof slot.presigned_url !== "string") {
      throw new ReactorError("DECODE_FAILED", "upload slot response lacks presigned_id / presigned_url", {
        component: "api",
        operation: "upload_file",
      });
    }
    await this.api.putBytes(this.uploadTarget(slot.presigned_url), file, mimeType, signal);
    const ref = new FileRef(slot.presigned_id, name, mimeType, file.size);
    const live = this.transport === transport ? transport : this.transport;
    if (live && live.data.readyState === "open") {
      this.sendText(live.data, encode({ kind: "fileUploaded", ...{ uploadId: ref.uploadId, name, mimeType, size: ref.size } }, "client"), "upload_file");
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
    this.sendText(transport.control, encode({ kind: "pauseTrack", name }, "client"), "pause_track");
  }

  /** Start (again) one output track for this connection. */
  async resumeTrack(name: string): Promise<void> {
    const transport = this.requireReady("resume_track");
    this.sendText(transport.control, encode({ kind: "resumeTrack", name }, "client"), "resume_track");
  }

  /** The model's OpenAPI document (also emitted as `schemaReceived`). */
  getSchema(): Promise<OpenApiDocument> {
    const transport = this.requireReady("get_schema");
    return new Promise<OpenApiDocument>((resolve, reject) => {
      const pending: Pending<OpenApiDocument> = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = this.pendingSchema.indexOf(pending);
          if (i >= 0) this.pendingSchema.splice(i, 1);
          reject(new ReactorError("REQUEST_TIMEOUT", "no schema within 10 s", { component: "gpu", operation: "get_schema" }));
        }, REQUEST_TIMEOUT_MS),
      };
      this.pendingSchema.push(pending);
      try {
        this.sendText(transport.data, encode({ kind: "requestSchema" }, "client"), "get_schema");
      } catch (exc) {
        clearTimeout(pending.timer);
        this.pendingSchema.splice(this.pendingSchema.indexOf(pending), 1);
        reject(asReactorError(exc, { component: "gpu", operation: "get_schema" }));
      }
    });
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

  private async createSession(signal: AbortSignal, onCreated: (id: string) => void): Promise<SessionInfo> {
    if (this.local) {
      const { data } = await this.api.json<SessionInfo>("POST", "/start_session", { operation: "connect", body: {}, signal });
      this.checkDescriptor(data);
      onCreated(data.session_id);
      return data;
    }
    const { data } = await this.api.json<SessionInfo>("POST", "/sessions", {
      operation: "connect",
      signal,
      body: {
        model: { name: this.modelName },
        client_info: CLIENT_INFO,
        supported_transports: [{ protocol: "webrtc", version: "1.0" }],
      },
    });
    this.checkDescriptor(data);
    onCreated(data.session_id);
    return this.pollSession(data, signal);
  }

  private async adoptSession(sessionId: string, signal: AbortSignal): Promise<SessionInfo> {
    const path = this.local ? "/session" : `/sessions/${encodeURIComponent(sessionId)}`;
    const { data } = await this.api.json<SessionInfo>("GET", path, { operation: "connect", signal });
    this.checkDescriptor(data);
    if (data.session_id !== sessionId) {
      throw new ReactorError("INVALID_STATE", `the running session is ${data.session_id}, not ${sessionId}`, {
        component: "api",
        operation: "connect",
      });
    }
    return this.pollSession(data, signal);
  }

  private async pollSession(first: SessionInfo, signal: AbortSignal): Promise<SessionInfo> {
    let info = first;
    let delay = 200;
    for (let attempt = 0; attempt < SESSION_POLL_ATTEMPTS; attempt++) {
      const state = String(info.state ?? "").toUpperCase();
      if (state === "CLOSED" || state === "INACTIVE") {
        throw new ReactorError("SESSION_TERMINAL", `session ${info.session_id} has ended (${state})`, {
          component: "api",
          operation: "connect",
        });
      }
      if (info.capabilities && info.selected_transport) return info;
      if (attempt > 0) {
        await sleep(delay, signal);
        delay = Math.min(delay * 2, 10_000);
      }
      const { data } = await this.api.json<SessionInfo>("GET", `/sessions/${encodeURIComponent(first.session_id)}`, {
        operation: "connect",
        signal,
      });
      this.checkDescriptor(data);
      info = data;
    }
    throw new ReactorError("REQUEST_TIMEOUT", `Session polling exceeded maximum attempts (${SESSION_POLL_ATTEMPTS})`, {
      component: "api",
      operation: "connect",
    });
  }

  private checkDescriptor(data: SessionInfo | undefined): asserts data is SessionInfo {
    if (!data || typeof data.session_id !== "string") {
      throw new ReactorError("DECODE_FAILED", "the session descriptor has no session_id", { component: "api", operation: "connect" });
    }
    const transport = data.selected_transport;
    if (transport && transport.protocol !== "webrtc") {
      throw new ReactorError("VERSION_MISMATCH", `Unsupported transport protocol ${transport.protocol}`, {
        component: "api",
        operation: "connect",
      });
    }
  }

  private async endSession(id: string): Promise<void> {
    try {
      if (this.local) await this.api.request("POST", "/stop_session", { operation: "disconnect", alsoOk: [404, 409] });
      else await this.api.request("DELETE", `/sessions/${encodeURIComponent(id)}`, { operation: "disconnect", alsoOk: [404] });
    } catch (exc) {
      console.warn("[openreactor] could not end session", id, exc);
    }
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

  private uploadTarget(presignedUrl: string): string {
    if (!this.local) return presignedUrl;
    // Local mode: the server may sit behind port forwarding; send the bytes to the host we know.
    try {
      const target = new URL(presignedUrl, this.apiUrl);
      const base = new URL(this.apiUrl);
      target.protocol = base.protocol;
      target.host = base.host;
      return target.toString();
    } catch {
      return presignedUrl;
    }
  }

  // -- internals: transport --------------------------------------------------------------------

  private checkEpoch(epoch: number, operation: string): void {
    if (epoch !== this.epoch) throw aborted(operation);
  }

  private webrtcPath(suffix: string): string {
    return `/sessions/${encodeURIComponent(this.sessionId!)}/transport/webrtc${suffix}`;
  }

  private async negotiate(epoch: number, signal: AbortSignal, maxAttempts: number, operation: string): Promise<void> {
    const caps = this.capabilities ?? { tracks: [] };
    const { data: iceData } = await this.api.json<{ ice_servers?: { uris?: string[]; urls?: string[]; credentials?: { username?: string; password?: string } }[] }>(
      "GET",
      this.webrtcPath("/ice_servers"),
      { operation, webrtc: true, signal },
    );
    this.checkEpoch(epoch, operation);
    const iceServers: RTCIceServer[] = (iceData?.ice_servers ?? []).map((s) => ({
      urls: s.uris ?? s.urls ?? [],
      ...(s.credentials?.username !== undefined ? { username: s.credentials.username } : {}),
      ...(s.credentials?.password !== undefined ? { credential: s.credentials.password } : {}),
    }));
    const firstOffer = this.connectionId === undefined;
    if (firstOffer) {
      const { data } = await this.api.json<{ connection_id: number }>("POST", this.webrtcPath("/connections"), {
        operation,
        webrtc: true,
        body: {},
        signal,
      });
      this.checkEpoch(epoch, operation);
      if (!data || typeof data.connection_id !== "number") {
        throw new ReactorError("DECODE_FAILED", "POST connections returned no connection_id", { component: "api", operation });
      }
      this.connectionId = data.connection_id;
    }
    const cid = this.connectionId!;

    const pc = new RTCPeerConnection({ iceServers });
    const transport: Transport = {
      epoch,
      pc,
      data: pc.createDataChannel("data"),
      control: pc.createDataChannel("control"),
      senders: new Map(),
      stream: new MediaStream(),
      outputs: new Map(),
      timers: [],
      stats: new StatsSampler(),
      localCandidates: [],
      answeredAt: 0,
    };
    this.transport = transport;
    const byMid = new Map<string, TrackCapability>();
    const transceivers: [TrackCapability, RTCRtpTransceiver][] = [];
    for (const track of caps.tracks) {
      const transceiver = pc.addTransceiver(track.kind, { direction: track.direction });
      transceivers.push([track, transceiver]);
      if (track.direction === "sendonly") transport.senders.set(track.name, transceiver.sender);
    }
    pc.ontrack = (event) => this.onTrack(transport, byMid, event);
    pc.onconnectionstatechange = () => this.onConnectionState(transport);
    for (const channel of [transport.data, transport.control]) {
      channel.onmessage = (event: MessageEvent) => this.onChannelMessage(transport, event.data as string | ArrayBuffer);
      channel.onclose = () => this.onTransportLost(transport, `data channel '${channel.label}' closed`);
    }

    // Trickle ICE: candidates go out in order, on the connection id we already hold.
    let candidateChain: Promise<void> = Promise.resolve();
    const postCandidates = (body: object): void => {
      candidateChain = candidateChain
        .then(() => this.api.request("POST", this.webrtcPath(`/connections/${cid}/ice_candidates`), { operation, webrtc: true, body, signal }))
        .then(
          () => undefined,
          (exc: unknown) => console.debug("[openreactor] ice candidate post failed", exc),
        );
    };
    pc.onicecandidate = (event) => {
      if (transport.epoch !== this.epoch) return;
      const c = event.candidate;
      if (c === null) {
        postCandidates({ candidates: [], is_final: true, client_info: CLIENT_INFO });
      } else if (c.candidate) {
        const info = parseCandidate(c.candidate);
        if (info) transport.localCandidates.push(info);
        postCandidates({
          candidates: [{ candidate: c.candidate, sdp_mid: c.sdpMid, sdp_mline_index: c.sdpMLineIndex }],
          is_final: false,
          client_info: CLIENT_INFO,
        });
      }
    };

    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    this.checkEpoch(epoch, operation);
    const trackMapping = transceivers.map(([track, transceiver]) => {
      byMid.set(String(transceiver.mid), track);
      return { name: track.name, kind: track.kind, direction: track.direction, mid: String(transceiver.mid) };
    });
    await this.api.request(firstOffer ? "POST" : "PUT", this.webrtcPath(`/connections/${cid}/sdp_params`), {
      operation,
      webrtc: true,
      signal,
      body: { sdp_offer: pc.localDescription!.sdp, client_info: CLIENT_INFO, track_mapping: trackMapping },
    });
    this.checkEpoch(epoch, operation);
    const answer = await this.pollAnswer(cid, maxAttempts, signal, operation);
    this.checkEpoch(epoch, operation);
    transport.remoteCandidates = candidatesOfSdp(answer);
    await pc.setRemoteDescription({ type: "answer", sdp: answer });
    transport.answeredAt = performance.now();
    this.checkEpoch(epoch, operation);
    await this.waitConnected(transport, signal, operation);
    this.checkEpoch(epoch, operation);
    await this.becomeReady(transport);
  }

  private async pollAnswer(cid: number, maxAttempts: number, signal: AbortSignal, operation: string): Promise<string> {
    let delay = 200;
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      if (attempt > 0) {
        await sleep(delay, signal);
        delay = Math.min(delay * 2, 15_000);
      }
      const { status, data } = await this.api.json<{ sdp_answer?: string }>("GET", this.webrtcPath(`/connections/${cid}/sdp_params`), {
        operation,
        webrtc: true,
        signal,
      });
      if (status === 200 && data && typeof data.sdp_answer === "string") return data.sdp_answer;
    }
    throw new ReactorError("REQUEST_TIMEOUT", `SDP polling exceeded maximum attempts (${maxAttempts})`, { component: "api", operation });
  }

  /**
   * Resolves once the peer connection and both channels are up. Fails at once when ICE fails, early
   * when ICE has had nothing to check LOCAL_CANDIDATE_TIMEOUT_MS after the answer and this browser
   * has no candidate (no usable network interface), else after READY_TIMEOUT_MS. The message names
   * the candidates of both ends, and what to do when the server's are all loopback.
   */
  private waitConnected(transport: Transport, signal: AbortSignal, operation: string): Promise<void> {
    const { pc, data, control } = transport;
    const isUp = (): boolean => pc.connectionState === "connected" && data.readyState === "open" && control.readyState === "open";
    if (isUp()) return Promise.resolve();
    const states = (): string => `ICE ${pc.iceConnectionState}, gathering ${pc.iceGatheringState}, peer ${pc.connectionState}`;
    const transportError = (what: string): ReactorError =>
      new ReactorError("TRANSPORT_ERROR", explainIce(what, transport.localCandidates, transport.remoteCandidates), {
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
          transport.localCandidates.length === 0 &&
          pc.iceConnectionState === "new" &&
          performance.now() - transport.answeredAt >= LOCAL_CANDIDATE_TIMEOUT_MS
        ) {
          const after = Math.round((performance.now() - transport.answeredAt) / 1000);
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

  private async becomeReady(transport: Transport): Promise<void> {
    // First message: a text ping, which latches the wire to v0 on the server (PROTOCOL.md §5.2).
    transport.data.send(encode({ kind: "ping" }, "client"));
    if (this.options.autoResumeTracks !== false) {
      for (const track of this.capabilities?.tracks ?? []) {
        if (track.direction === "recvonly") transport.control.send(encode({ kind: "resumeTrack", name: track.name }, "client"));
      }
    }
    transport.timers.push(
      setInterval(() => {
        if (transport.data.readyState === "open") transport.data.send(encode({ kind: "ping" }, "client"));
      }, HEARTBEAT_MS),
      setInterval(() => void this.sampleStats(transport), STATS_INTERVAL_MS),
    );
    // Re-apply published inputs (after a reconnect); a refusal is reported, not fatal.
    for (const [name, track] of this.published) {
      try {
        await this.publishOn(transport, name, track);
      } catch (exc) {
        this.report(asReactorError(exc, { component: "gpu", operation: "publish_track" }));
      }
    }
    if (transport.epoch !== this.epoch) throw aborted("connect");
    this.setStatus("ready");
  }

  private publishOn(transport: Transport, name: string, track: MediaStreamTrack): Promise<void> {
    const sender = transport.senders.get(name);
    if (!sender) return Promise.reject(new TypeError(`no transceiver for input '${name}'`));
    const requestId = `pub-${++this.requestCounter}`;
    const reply = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pendingPublish.delete(requestId);
        reject(new ReactorError("REQUEST_TIMEOUT", `no reply to publish_track '${name}' within 10 s`, { component: "gpu", operation: "publish_track" }));
      }, REQUEST_TIMEOUT_MS);
      this.pendingPublish.set(requestId, { resolve, reject, timer });
    });
    this.sendText(transport.control, encode({ kind: "publishTrack", requestId, name }, "client"), "publish_track");
    return reply.then(() => sender.replaceTrack(track));
  }

  private onTrack(transport: Transport, byMid: Map<string, TrackCapability>, event: RTCTrackEvent): void {
    if (transport.epoch !== this.epoch) return;
    const spec = byMid.get(String(event.transceiver.mid));
    if (!spec || spec.direction !== "recvonly") return;
    const track = event.track;
    transport.outputs.set(spec.name, track);
    // One stream for all outputs, in declared order (video first), so `srcObject = stream` stays right.
    const order = (this.capabilities?.tracks ?? []).filter((t) => t.direction === "recvonly").map((t) => t.name);
    for (const existing of transport.stream.getTracks()) transport.stream.removeTrack(existing);
    for (const name of order) {
      const t = transport.outputs.get(name);
      if (t) transport.stream.addTrack(t);
    }
    track.addEventListener("ended", () => {
      if (transport.epoch === this.epoch) this.emit("trackRemoved", spec.name);
    });
    this.emit("trackReceived", spec.name, track, transport.stream);
  }

  private onConnectionState(transport: Transport): void {
    if (transport.epoch !== this.epoch) return;
    const state = transport.pc.connectionState;
    if (state === "connected") {
      clearTimeout(transport.graceTimer);
      transport.graceTimer = undefined;
    } else if (state === "failed" || state === "closed") {
      this.onTransportLost(transport, `peer connection ${state}`);
    } else if (state === "disconnected" && this.status === "ready" && transport.graceTimer === undefined) {
      transport.graceTimer = setTimeout(() => {
        transport.graceTimer = undefined;
        if (transport.pc.connectionState !== "connected") this.onTransportLost(transport, "peer connection disconnected");
      }, DISCONNECTED_GRACE_MS);
    }
  }

  /** A ready transport died: keep the session for `reconnect()` and report `DISCONNECTED`. */
  private onTransportLost(transport: Transport, why: string): void {
    if (transport.epoch !== this.epoch || this.status !== "ready" || this.transport !== transport) return;
    this.epoch++;
    this.teardownTransport();
    this.failPending(new ReactorError("DISCONNECTED", `connection lost: ${why}`, { component: "gpu" }));
    this.setStatus("disconnected");
    this.report(new ReactorError("DISCONNECTED", `connection lost: ${why}`, { component: "gpu" }));
  }

  private onChannelMessage(transport: Transport, raw: string | ArrayBuffer): void {
    if (transport.epoch !== this.epoch) return;
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
      case "publishTrackResponse": {
        const pending = this.pendingPublish.get(msg.requestId);
        if (!pending) break;
        this.pendingPublish.delete(msg.requestId);
        clearTimeout(pending.timer);
        if (msg.error) pending.reject(new ReactorError(msg.error.code, msg.error.message, { component: "gpu", operation: "publish_track" }));
        else pending.resolve();
        break;
      }
      case "modelSchema": {
        this.emit("schemaReceived", msg.openapi);
        for (const pending of this.pendingSchema.splice(0)) {
          clearTimeout(pending.timer);
          pending.resolve(msg.openapi);
        }
        break;
      }
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
    this.failPending(error);
    this.clearSession();
    this.published.clear();
    this.setStatus("disconnected");
    this.report(error);
  }

  private teardownTransport(): void {
    const transport = this.transport;
    if (!transport) return;
    this.transport = undefined;
    for (const timer of transport.timers) clearInterval(timer);
    clearTimeout(transport.graceTimer);
    transport.pc.ontrack = null;
    transport.pc.onicecandidate = null;
    transport.pc.onconnectionstatechange = null;
    for (const channel of [transport.data, transport.control]) {
      channel.onmessage = null;
      channel.onclose = null;
    }
    try {
      transport.pc.close();
    } catch {
      // already closed
    }
    for (const name of transport.outputs.keys()) this.emit("trackRemoved", name);
    this.latestStats = undefined;
  }

  private failPending(error: ReactorError): void {
    for (const [id, pending] of this.pendingPublish) {
      clearTimeout(pending.timer);
      pending.reject(error);
      this.pendingPublish.delete(id);
    }
    for (const pending of this.pendingSchema.splice(0)) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
  }

  private async sampleStats(transport: Transport): Promise<void> {
    if (transport.epoch !== this.epoch) return;
    try {
      const report = await transport.pc.getStats();
      const sessionCreationMs = this.timings.sessionCreated - this.timings.start;
      const stats = transport.stats.sample(report, undefined);
      if (this.timings.sessionCreated > 0) {
        const totalMs = performance.now() - this.timings.start;
        stats.connectionTimings = { sessionCreationMs, transportConnectingMs: totalMs - sessionCreationMs, totalMs };
      }
      if (transport.epoch !== this.epoch) return;
      this.latestStats = stats;
      this.emit("statsUpdate", stats);
    } catch (exc) {
      console.debug("[openreactor] getStats failed", exc);
    }
  }

  // -- internals: helpers ----------------------------------------------------------------------

  private requireReady(operation: string, component: ErrorComponent = "gpu"): Transport {
    const transport = this.transport;
    if (this.status !== "ready" || !transport) {
      throw this.local_error("INVALID_STATE", `${operation} needs status "ready" (status is "${this.status}"): wait for ready first`, operation, component);
    }
    return transport;
  }

  private sendText(channel: RTCDataChannel, text: string, operation: string): void {
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
