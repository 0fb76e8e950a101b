// The imperative API only: no React, no zustand.
export {
  Reactor,
  DEFAULT_API_URL,
  LOCAL_API_URL,
  MAX_MESSAGE_BYTES,
  type Capabilities,
  type ConnectOptions,
  type ModelMessage,
  type OpenApiDocument,
  type ReactorEvent,
  type ReactorEventCallbacks,
  type ReactorOptions,
  type ReactorStatus,
  type ReconnectOptions,
  type SessionInfo,
  type TrackCapability,
  type UploadOptions,
} from "./reactor.js";
export { ReactorError, ErrorCodes, isReactorError, isRecoverableCode, type ErrorCode, type ErrorComponent } from "./errors.js";
export { FileRef, isFileRef } from "./fileRef.js";
export type { ConnectionStats } from "./stats.js";
export { SDK_VERSION } from "./http.js";
