/** `ReactorError`: the one error type of the SDK, thrown and emitted alike (SDK-API.md §1.3, §2.2.4). */

export type ErrorComponent = "api" | "gpu";

/** Codes whose errors are worth retrying; every other code (unknown ones included) is not. */
const RECOVERABLE_CODES: ReadonlySet<string> = new Set([
  "NETWORK_ERROR",
  "SERVER_ERROR",
  "RATE_LIMITED",
  "REQUEST_TIMEOUT",
  "TRANSPORT_ERROR",
  "DISCONNECTED",
]);

/** Every code the SDK itself raises (model and runtime codes pass through unchanged). */
export const ErrorCodes = {
  NETWORK_ERROR: "NETWORK_ERROR",
  SERVER_ERROR: "SERVER_ERROR",
  RATE_LIMITED: "RATE_LIMITED",
  REQUEST_TIMEOUT: "REQUEST_TIMEOUT",
  TRANSPORT_ERROR: "TRANSPORT_ERROR",
  DISCONNECTED: "DISCONNECTED",
  UNAUTHORIZED: "UNAUTHORIZED",
  NOT_FOUND: "NOT_FOUND",
  CONFLICT: "CONFLICT",
  BAD_REQUEST: "BAD_REQUEST",
  VERSION_MISMATCH: "VERSION_MISMATCH",
  DECODE_FAILED: "DECODE_FAILED",
  INVALID_STATE: "INVALID_STATE",
  SESSION_TERMINAL: "SESSION_TERMINAL",
  MESSAGE_TOO_LARGE: "MESSAGE_TOO_LARGE",
  ABORTED: "ABORTED",
  INTERNAL_ERROR: "INTERNAL_ERROR",
  RECORDER_DISABLED: "RECORDER_DISABLED",
  GENERATION_MODE_MISMATCH: "GENERATION_MODE_MISMATCH",
  DATA_CHANNEL_CHUNKING_REQUIRED: "DATA_CHANNEL_CHUNKING_REQUIRED",
  UNSUPPORTED_FRAME_ENCODING: "UNSUPPORTED_FRAME_ENCODING",
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Whether errors with this code are recoverable: derived from the code, never chosen by callers. */
export function isRecoverableCode(code: string): boolean {
  return RECOVERABLE_CODES.has(code);
}

export interface ReactorErrorFields {
  component: ErrorComponent;
  status?: number;
  operation?: string;
  retryAfterMs?: number;
  entry?: string;
  commandCode?: string;
  cause?: unknown;
}

export class ReactorError extends Error {
  override readonly name = "ReactorError" as const;
  readonly code: string;
  readonly recoverable: boolean;
  readonly component: ErrorComponent;
  /** Seconds, from the server's `Retry-After` only; `undefined` means "use your own backoff". */
  readonly retryAfter?: number;
  readonly retryAfterMs?: number;
  readonly status?: number;
  readonly operation?: string;
  /** Milliseconds since the epoch. */
  readonly timestamp: number;
  readonly timestampMs: number;
  readonly entry?: string;
  readonly commandCode?: string;

  constructor(code: string, message: string, fields: ReactorErrorFields) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.code = code;
    this.recoverable = isRecoverableCode(code);
    this.component = fields.component;
    if (fields.retryAfterMs !== undefined) {
      this.retryAfterMs = fields.retryAfterMs;
      this.retryAfter = fields.retryAfterMs / 1000;
    }
    if (fields.status !== undefined) this.status = fields.status;
    if (fields.operation !== undefined) this.operation = fields.operation;
    if (fields.entry !== undefined) this.entry = fields.entry;
    if (fields.commandCode !== undefined) this.commandCode = fields.commandCode;
    this.timestamp = this.timestampMs = Date.now();
  }

  override toString(): string {
    return `[${this.component}:${this.code}] ${this.message}`;
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      recoverable: this.recoverable,
      component: this.component,
      retryAfter: this.retryAfter,
      retryAfterMs: this.retryAfterMs,
      status: this.status,
      operation: this.operation,
      timestamp: this.timestamp,
      entry: this.entry,
      commandCode: this.commandCode,
    };
  }
}

export function isReactorError(value: unknown): value is ReactorError {
  return (
    value instanceof ReactorError ||
    (value instanceof Error && value.name === "ReactorError" && typeof (value as ReactorError).code === "string")
  );
}

/** The code for an HTTP error status (SDK-API.md §1.3.3). */
export function codeForStatus(status: number): ErrorCode {
  if (status === 401 || status === 403) return "UNAUTHORIZED";
  if (status === 404) return "NOT_FOUND";
  if (status === 409) return "CONFLICT";
  if (status === 426 || status === 501) return "VERSION_MISMATCH";
  if (status === 429) return "RATE_LIMITED";
  if (status >= 500) return "SERVER_ERROR";
  return "BAD_REQUEST";
}

/** `Retry-After` in delta-seconds form, as milliseconds; the HTTP-date form is ignored. */
export function parseRetryAfter(header: string | null): number | undefined {
  if (header === null) return undefined;
  const text = header.trim();
  if (!/^\d+(\.\d+)?$/.test(text)) return undefined;
  return Number(text) * 1000;
}

/** A `ReactorError` for a failed HTTP response (the body text goes into the message). */
export function httpError(status: number, body: string, operation: string, retryAfter: string | null): ReactorError {
  let detail = body.trim();
  try {
    const parsed: unknown = JSON.parse(detail);
    if (parsed && typeof parsed === "object" && typeof (parsed as { detail?: unknown }).detail === "string") {
      detail = (parsed as { detail: string }).detail;
    }
  } catch {
    // free-form bodies are kept as they are
  }
  const retryAfterMs = parseRetryAfter(retryAfter);
  return new ReactorError(codeForStatus(status), `HTTP ${status}${detail ? `: ${detail}` : ""}`, {
    component: "api",
    status,
    operation,
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  });
}

/** Wrap anything thrown into a `ReactorError` (kept as is when it already is one). */
export function asReactorError(value: unknown, fallback: { code?: string; component: ErrorComponent; operation?: string }): ReactorError {
  if (isReactorError(value)) return value;
  const message = value instanceof Error ? value.message : String(value);
  return new ReactorError(fallback.code ?? "INTERNAL_ERROR", message, {
    component: fallback.component,
    cause: value,
    ...(fallback.operation !== undefined ? { operation: fallback.operation } : {}),
  });
}
