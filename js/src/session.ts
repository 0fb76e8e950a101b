/**
 * The session over HTTP (PROTOCOL.md §2, §3.1, §7): the control plane (create or adopt a session
 * and poll it until it can take an offer, end it, upload slots) and the per-connection signalling
 * calls (ICE servers, connection id, offer, trickled candidates, answer polling).
 *
 * `SessionApi` keeps no session state: the `Reactor` passes the ids it holds.
 */

import { ReactorError } from "./errors.js";
import { CLIENT_INFO, HttpApi, sleep } from "./http.js";

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

const SESSION_POLL_ATTEMPTS = 20;

interface IceServerJson {
  uris?: string[];
  urls?: string[];
  credentials?: { username?: string; password?: string };
}

export interface SessionApiOptions {
  modelName: string;
  local: boolean;
  /** The API's base URL (local mode sends upload bytes to its host). */
  apiUrl: string;
}

export class SessionApi {
  constructor(
    private readonly api: HttpApi,
    private readonly options: SessionApiOptions,
  ) {}

  // -- control plane ---------------------------------------------------------------------------

  /** `POST /start_session` (local) or `POST /sessions` then polling (cloud); `onCreated` gets the id at once. */
  async createSession(signal: AbortSignal, onCreated: (id: string) => void): Promise<SessionInfo> {
    if (this.options.local) {
      const { data } = await this.api.json<SessionInfo>("POST", "/start_session", { operation: "connect", body: {}, signal });
      checkDescriptor(data);
      onCreated(data.session_id);
      return data;
    }
    const { data } = await this.api.json<SessionInfo>("POST", "/sessions", {
      operation: "connect",
      signal,
      body: {
        model: { name: this.options.modelName },
        client_info: CLIENT_INFO,
        supported_transports: [{ protocol: "webrtc", version: "1.0" }],
      },
    });
    checkDescriptor(data);
    onCreated(data.session_id);
    return this.pollSession(data, signal);
  }

  /** The running session `sessionId` (`GET /session` locally, `GET /sessions/{id}` in the cloud), polled until ready. */
  async adoptSession(sessionId: string, signal: AbortSignal): Promise<SessionInfo> {
    const path = this.options.local ? "/session" : `/sessions/${encodeURIComponent(sessionId)}`;
    const { data } = await this.api.json<SessionInfo>("GET", path, { operation: "connect", signal });
    checkDescriptor(data);
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
      checkDescriptor(data);
      info = data;
    }
    throw new ReactorError("REQUEST_TIMEOUT", `Session polling exceeded maximum attempts (${SESSION_POLL_ATTEMPTS})`, {
      component: "api",
      operation: "connect",
    });
  }

  /** Stop the local session or delete the cloud one; never rejects (a failure is logged). */
  async endSession(id: string): Promise<void> {
    try {
      if (this.options.local) await this.api.request("POST", "/stop_session", { operation: "disconnect", alsoOk: [404, 409] });
      else await this.api.request("DELETE", `/sessions/${encodeURIComponent(id)}`, { operation: "disconnect", alsoOk: [404] });
    } catch (exc) {
      console.warn("[openreactor] could not end session", id, exc);
    }
  }

  /** Page unload: a best-effort `keepalive` end-of-session request, not waited for. */
  endSessionOnUnload(id: string): void {
    const path = this.options.local ? "/stop_session" : `/sessions/${encodeURIComponent(id)}`;
    const method = this.options.local ? "POST" : "DELETE";
    void this.api.request(method, path, { operation: "disconnect", keepalive: true, alsoOk: [404, 409] }).catch(() => undefined);
  }

  /** An upload slot of the session, then the bytes `PUT` to it; resolves to the slot's id. */
  async upload(sessionId: string, file: Blob, name: string, mimeType: string, signal: AbortSignal): Promise<string> {
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
    return slot.presigned_id;
  }

  private uploadTarget(presignedUrl: string): string {
    if (!this.options.local) return presignedUrl;
    // Local mode: the server may sit behind port forwarding; send the bytes to the host we know.
    try {
      const target = new URL(presignedUrl, this.options.apiUrl);
      const base = new URL(this.options.apiUrl);
      target.protocol = base.protocol;
      target.host = base.host;
      return target.toString();
    } catch {
      return presignedUrl;
    }
  }

  // -- signalling (per-connection routes) ------------------------------------------------------

  async iceServers(sessionId: string, operation: string, signal: AbortSignal): Promise<RTCIceServer[]> {
    const { data } = await this.api.json<{ ice_servers?: IceServerJson[] }>("GET", webrtcPath(sessionId, "/ice_servers"), {
      operation,
      webrtc: true,
      signal,
    });
    return (data?.ice_servers ?? []).map((s) => ({
      urls: s.uris ?? s.urls ?? [],
      ...(s.credentials?.username !== undefined ? { username: s.credentials.username } : {}),
      ...(s.credentials?.password !== undefined ? { credential: s.credentials.password } : {}),
    }));
  }

  async createConnection(sessionId: string, operation: string, signal: AbortSignal): Promise<number> {
    const { data } = await this.api.json<{ connection_id: number }>("POST", webrtcPath(sessionId, "/connections"), {
      operation,
      webrtc: true,
      body: {},
      signal,
    });
    if (!data || typeof data.connection_id !== "number") {
      throw new ReactorError("DECODE_FAILED", "POST connections returned no connection_id", { component: "api", operation });
    }
    return data.connection_id;
  }

  /** `POST` the first offer of a connection id, `PUT` a re-offer (reconnect). */
  async sendOffer(sessionId: string, cid: number, firstOffer: boolean, body: object, operation: string, signal: AbortSignal): Promise<void> {
    await this.api.request(firstOffer ? "POST" : "PUT", webrtcPath(sessionId, `/connections/${cid}/sdp_params`), {
      operation,
      webrtc: true,
      signal,
      body,
    });
  }

  /** A sender of trickled ICE candidates: posts go out one after the other, failures are logged. */
  candidateSender(sessionId: string, cid: number, operation: string, signal: AbortSignal): (body: object) => void {
    let chain: Promise<void> = Promise.resolve();
    const path = webrtcPath(sessionId, `/connections/${cid}/ice_candidates`);
    return (body) => {
      chain = chain
        .then(() => this.api.request("POST", path, { operation, webrtc: true, body, signal }))
        .then(
          () => undefined,
          (exc: unknown) => console.debug("[openreactor] ice candidate post failed", exc),
        );
    };
  }

  /** Poll `GET …/sdp_params` until the answer (200) or `maxAttempts` polls. */
  async pollAnswer(sessionId: string, cid: number, maxAttempts: number, signal: AbortSignal, operation: string): Promise<string> {
    let delay = 200;
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      if (attempt > 0) {
        await sleep(delay, signal);
        delay = Math.min(delay * 2, 15_000);
      }
      const { status, data } = await this.api.json<{ sdp_answer?: string }>("GET", webrtcPath(sessionId, `/connections/${cid}/sdp_params`), {
        operation,
        webrtc: true,
        signal,
      });
      if (status === 200 && data && typeof data.sdp_answer === "string") return data.sdp_answer;
    }
    throw new ReactorError("REQUEST_TIMEOUT", `SDP polling exceeded maximum attempts (${maxAttempts})`, { component: "api", operation });
  }
}

function webrtcPath(sessionId: string, suffix: string): string {
  return `/sessions/${encodeURIComponent(sessionId)}/transport/webrtc${suffix}`;
}

function checkDescriptor(data: SessionInfo | undefined): asserts data is SessionInfo {
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
