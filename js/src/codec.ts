/**
 * The v0 JSON wire (PROTOCOL.md §5.3), mirroring `reactor_protocol.codec_v0_json` in Python; both are
 * tested against the same golden examples (`fixtures/v0_golden.json`).
 *
 * Scope envelopes travel on `data`: `{"scope": "application" | "runtime", "data": {"type", "data"}}`.
 * The control form travels on `control`: `{"type": "request" | "response" | "notification", ...}`.
 */

import { ReactorError } from "./errors.js";
import type { WireUploadRef } from "./fileRef.js";

export type Origin = "client" | "server";
export type ChannelName = "data" | "control";
export type JsonObject = { [key: string]: unknown };

export interface UploadFields {
  uploadId: string;
  name: string;
  mimeType: string;
  size: number;
}

/** One decoded v0 message, in the SDK's own (camelCase) terms. */
export type WireMessage =
  | { kind: "command"; type: string; data: JsonObject; uploads?: Record<string, UploadFields> }
  | { kind: "message"; type: string; data: unknown }
  | { kind: "ping" }
  | { kind: "requestSchema" }
  | { kind: "requestRecording" }
  | { kind: "requestClip"; durationSeconds: number }
  | ({ kind: "fileUploaded" } & UploadFields)
  | { kind: "modelSchema"; openapi: JsonObject }
  | { kind: "sessionEnded"; reason: string }
  | { kind: "moderation"; action: string; inputKind: string; command: string; categories: string[]; message: string }
  | {
      kind: "clipReady";
      sessionId: string;
      clipKind: string;
      startMarker: number;
      endMarker: number;
      nowMarker: number;
      predictedReadyAtMs: number;
      playlistUrl: string;
    }
  | { kind: "clipFailed"; reason: string }
  | { kind: "error"; code: string; message: string }
  | { kind: "resumeTrack" | "pauseTrack" | "unpublishTrack"; name: string }
  | { kind: "publishTrack"; requestId: string; name: string }
  | { kind: "publishTrackResponse"; requestId: string; name?: string; error?: { code: string; message: string } };

const TRACK_EVENTS = { resume_track: "resumeTrack", pause_track: "pauseTrack", unpublish_track: "unpublishTrack" } as const;
const EVENT_OF = { resumeTrack: "resume_track", pauseTrack: "pause_track", unpublishTrack: "unpublish_track" } as const;
const CLIENT_RUNTIME = new Set(["ping", "fileUploaded", "requestSchema", "requestRecording", "requestClip"]);
const SERVER_RUNTIME = new Set(["modelSchema", "sessionEnded", "moderation", "clipReady", "clipFailed"]);

function fail(message: string): never {
  throw new ReactorError("DECODE_FAILED", message, { component: "gpu" });
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function obj(o: JsonObject, key: string): JsonObject {
  if (!(key in o)) fail(`missing field '${key}'`);
  const v = o[key];
  if (!isObject(v)) fail(`${key} must be a JSON object`);
  return v;
}

function str(o: JsonObject, key: string, fallback?: string): string {
  const v = key in o ? o[key] : fallback;
  if (v === undefined) fail(`missing field '${key}'`);
  if (typeof v !== "string") fail(`field '${key}' must be a string`);
  return v;
}

function num(o: JsonObject, key: string): number {
  if (!(key in o)) fail(`missing field '${key}'`);
  const v = o[key];
  if (typeof v !== "number" || !Number.isFinite(v)) fail(`field '${key}' must be a number`);
  return v;
}

function int(o: JsonObject, key: string): number {
  const v = num(o, key);
  if (!Number.isInteger(v)) fail(`field '${key}' must be an integer`);
  return v;
}

function uploadFields(o: JsonObject): UploadFields {
  return { uploadId: str(o, "upload_id"), name: str(o, "name"), mimeType: str(o, "mime_type"), size: int(o, "size") };
}

export function uploadToWire(u: UploadFields): WireUploadRef {
  return { upload_id: u.uploadId, name: u.name, mime_type: u.mimeType, size: u.size };
}

// ---------------------------------------------------------------------------------------------
// encoding

/** The channel an encoded message travels on: control-form messages on `control`, the rest on `data`. */
export function wireChannel(msg: WireMessage): ChannelName {
  switch (msg.kind) {
    case "resumeTrack":
    case "pauseTrack":
    case "unpublishTrack":
    case "publishTrack":
    case "publishTrackResponse":
      return "control";
    default:
      return "data";
  }
}

/** The JSON value of `msg` as sent by `origin`; throws `TypeError` for a message `origin` cannot send. */
export function toJson(msg: WireMessage, origin: Origin): JsonObject {
  const clientOnly = (): void => {
    if (origin !== "client") throw new TypeError(`${msg.kind} cannot be sent by the ${origin}`);
  };
  const serverOnly = (): void => {
    if (origin !== "server") throw new TypeError(`${msg.kind} cannot be sent by the ${origin}`);
  };
  const runtime = (type: string, data: JsonObject): JsonObject => ({ scope: "runtime", data: { type, data } });
  switch (msg.kind) {
    case "command": {
      clientOnly();
      const inner: JsonObject = { type: msg.type, data: msg.data };
      if (msg.uploads && Object.keys(msg.uploads).length > 0) {
        inner["uploads"] = Object.fromEntries(Object.entries(msg.uploads).map(([k, u]) => [k, uploadToWire(u)]));
      }
      return { scope: "application", data: inner };
    }
    case "message": {
      serverOnly();
      const inner: JsonObject = { type: msg.type };
      if (msg.data !== null && msg.data !== undefined) inner["data"] = msg.data;
      return { scope: "application", data: inner };
    }
    case "ping":
      clientOnly();
      return runtime("ping", {});
    case "requestSchema":
      clientOnly();
      return runtime("requestSchema", {});
    case "requestRecording":
      clientOnly();
      return runtime("requestRecording", {});
    case "requestClip":
      clientOnly();
      return runtime("requestClip", { duration_seconds: msg.durationSeconds });
    case "fileUploaded":
      clientOnly();
      return runtime("fileUploaded", { ...uploadToWire(msg) });
    case "modelSchema":
      serverOnly();
      return runtime("modelSchema", msg.openapi);
    case "sessionEnded":
      serverOnly();
      return runtime("sessionEnded", { reason: msg.reason });
    case "moderation":
      serverOnly();
      return runtime("moderation", {
        action: msg.action,
        input_kind: msg.inputKind,
        command: msg.command,
        categories: msg.categories,
        message: msg.message,
      });
    case "clipReady":
      serverOnly();
      return runtime("clipReady", {
        session_id: msg.sessionId,
        kind: msg.clipKind,
        start_marker: msg.startMarker,
        end_marker: msg.endMarker,
        now_marker: msg.nowMarker,
        predicted_ready_at_ms: msg.predictedReadyAtMs,
        playlist_url: msg.playlistUrl,
      });
    case "clipFailed":
      serverOnly();
      return runtime("clipFailed", { reason: msg.reason });
    case "error":
      return runtime("error", { code: msg.code, message: msg.message });
    case "resumeTrack":
    case "pauseTrack":
    case "unpublishTrack":
      return { type: "notification", event: EVENT_OF[msg.kind], data: { name: msg.name } };
    case "publishTrack":
      if (!msg.requestId) throw new TypeError("a v0 control request needs a request_id");
      return { type: "request", method: "publish_track", request_id: msg.requestId, data: { name: msg.name } };
    case "publishTrackResponse": {
      if (!msg.requestId) throw new TypeError("a v0 control response needs a request_id");
      const out: JsonObject = { type: "response", method: "publish_track", request_id: msg.requestId };
      if (msg.error) out["error"] = { code: msg.error.code, message: msg.error.message };
      else out["data"] = msg.name ? { name: msg.name } : {};
      return out;
    }
  }
}

/** The v0 text of `msg` as sent by `origin`. */
export function encode(msg: WireMessage, origin: Origin): string {
  return JSON.stringify(toJson(msg, origin));
}

// ---------------------------------------------------------------------------------------------
// decoding

/** Decode one v0 message (text, or JSON in a binary frame) sent by `origin`; throws `DECODE_FAILED`. */
export function decode(raw: string | ArrayBuffer | Uint8Array, origin: Origin): WireMessage {
  let parsed: unknown;
  try {
    const text = typeof raw === "string" ? raw : new TextDecoder("utf-8", { fatal: true }).decode(raw);
    parsed = JSON.parse(text);
  } catch (exc) {
    fail(`invalid v0 message: ${exc instanceof Error ? exc.message : String(exc)}`);
  }
  if (!isObject(parsed)) fail("a v0 message is a JSON object");
  if ("scope" in parsed) return decodeScope(parsed, origin);
  const t = parsed["type"];
  if (t === "request" || t === "response" || t === "notification") return decodeControl(parsed);
  fail("neither a scope envelope nor a control message");
}

function decodeScope(o: JsonObject, origin: Origin): WireMessage {
  const scope = o["scope"];
  const inner = obj(o, "data");
  const type = str(inner, "type");
  if (scope === "application") {
    if (origin === "client") {
      const data = "data" in inner ? inner["data"] : {};
      if (!isObject(data)) fail("a command's data must be a JSON object");
      const rawUploads = "uploads" in inner ? inner["uploads"] : {};
      if (!isObject(rawUploads)) fail("uploads must be a JSON object");
      const msg: WireMessage = { kind: "command", type, data };
      const keys = Object.keys(rawUploads);
      if (keys.length > 0) {
        msg.uploads = Object.fromEntries(
          keys.map((k) => {
            const v = rawUploads[k];
            if (!isObject(v)) fail(`uploads.${k} must be a JSON object`);
            return [k, uploadFields(v)];
          }),
        );
      }
      return msg;
    }
    const data = "data" in inner ? inner["data"] : null;
    if (data !== null && !isObject(data)) fail("a model message's data must be a JSON object or null");
    return { kind: "message", type, data };
  }
  if (scope === "runtime") {
    const data = "data" in inner ? inner["data"] : {};
    if (!isObject(data)) fail("runtime data must be a JSON object");
    return runtimeMessage(type, data, origin);
  }
  fail(`unknown scope ${JSON.stringify(scope)}`);
}

function runtimeMessage(type: string, d: JsonObject, origin: Origin): WireMessage {
  if (type === "error") return { kind: "error", code: str(d, "code"), message: str(d, "message", "") };
  const allowed = origin === "client" ? CLIENT_RUNTIME : SERVER_RUNTIME;
  if (!allowed.has(type)) fail(`unsupported runtime message '${type}'`);
  switch (type) {
    case "ping":
      return { kind: "ping" };
    case "requestSchema":
      return { kind: "requestSchema" };
    case "requestRecording":
      return { kind: "requestRecording" };
    case "requestClip":
      return { kind: "requestClip", durationSeconds: num(d, "duration_seconds") };
    case "fileUploaded":
      return { kind: "fileUploaded", ...uploadFields(d) };
    case "modelSchema":
      return { kind: "modelSchema", openapi: d };
    case "sessionEnded":
      return { kind: "sessionEnded", reason: str(d, "reason", "") };
    case "moderation": {
      const categories = "categories" in d ? d["categories"] : [];
      if (!Array.isArray(categories) || !categories.every((c) => typeof c === "string")) {
        fail("moderation categories must be a list of strings");
      }
      return {
        kind: "moderation",
        action: str(d, "action"),
        inputKind: str(d, "input_kind", ""),
        command: str(d, "command", ""),
        categories: categories as string[],
        message: str(d, "message", ""),
      };
    }
    case "clipReady":
      return {
        kind: "clipReady",
        sessionId: str(d, "session_id"),
        clipKind: str(d, "kind"),
        startMarker: num(d, "start_marker"),
        endMarker: num(d, "end_marker"),
        nowMarker: num(d, "now_marker"),
        predictedReadyAtMs: int(d, "predicted_ready_at_ms"),
        playlistUrl: str(d, "playlist_url"),
      };
    default:
      return { kind: "clipFailed", reason: str(d, "reason", "") };
  }
}

function decodeControl(o: JsonObject): WireMessage {
  const type = o["type"];
  if (type === "notification") {
    const event = str(o, "event");
    const kind = (TRACK_EVENTS as Record<string, (typeof TRACK_EVENTS)[keyof typeof TRACK_EVENTS]>)[event];
    if (kind === undefined) fail(`unsupported control event '${event}'`);
    return { kind, name: str(obj(o, "data"), "name") };
  }
  const method = str(o, "method");
  const requestId = str(o, "request_id");
  if (!requestId) fail("a control request or response needs a request_id");
  if (method !== "publish_track") fail(`unsupported control method '${method}'`);
  if (type === "request") return { kind: "publishTrack", requestId, name: str(obj(o, "data"), "name") };
  if ("error" in o && o["error"] !== null && o["error"] !== undefined) {
    const e = obj(o, "error");
    return { kind: "publishTrackResponse", requestId, error: { code: str(e, "code"), message: str(e, "message", "") } };
  }
  const data = o["data"] ?? {};
  if (!isObject(data)) fail("response data must be a JSON object");
  const name = str(data, "name", "");
  return name ? { kind: "publishTrackResponse", requestId, name } : { kind: "publishTrackResponse", requestId };
}
