/**
 * Model commands as `sendCommand` puts them on the `data` channel (PROTOCOL.md §5.3): the data
 * must be a JSON object (or a string holding one); `FileRef` values directly under a key go to the
 * wire `uploads` map, nested ones become their wire objects. The size is checked when the text is
 * sent (`sendText`: `MESSAGE_TOO_LARGE` over `MAX_MESSAGE_BYTES`).
 */

import { encode, type JsonObject, type UploadFields } from "./codec.js";
import { ReactorError } from "./errors.js";
import { isFileRef } from "./fileRef.js";

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function decodeFailed(message: string): ReactorError {
  return new ReactorError("DECODE_FAILED", message, { component: "gpu", operation: "send_command" });
}

/** The text of command `command` with `data`; `DECODE_FAILED` when `data` is not a JSON object. */
export function encodeCommand(command: string, data: unknown, scope: "application" | "runtime"): string {
  let payload: unknown = data;
  if (typeof payload === "string") {
    try {
      payload = JSON.parse(payload);
    } catch {
      throw decodeFailed("command data is a string that is not JSON");
    }
  }
  if (payload === undefined || payload === null) payload = {};
  if (!isPlainObject(payload)) throw decodeFailed("command data must be a JSON object");
  if (scope === "runtime") return JSON.stringify({ scope: "runtime", data: { type: command, data: payload } });
  const args: JsonObject = {};
  const uploads: Record<string, UploadFields> = {};
  for (const [key, value] of Object.entries(payload)) {
    if (isFileRef(value)) uploads[key] = { uploadId: value.uploadId, name: value.name, mimeType: value.mimeType, size: value.size };
    else args[key] = value;
  }
  // Nested FileRefs become their wire objects through FileRef.toJSON.
  const plain = JSON.parse(JSON.stringify(args)) as JsonObject;
  return encode({ kind: "command", type: command, data: plain, uploads }, "client");
}
