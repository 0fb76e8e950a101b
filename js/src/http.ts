/** The HTTP control and signalling planes (PROTOCOL.md §2, §3.1, §7) as plain `fetch` calls. */

import { ReactorError, httpError, isReactorError } from "./errors.js";

export const SDK_VERSION = "0.1.0";
export const CLIENT_INFO = { sdk_version: SDK_VERSION, sdk_type: "js" } as const;

const API_HEADERS = { "Reactor-API-Version": "1", "Reactor-API-Accept-Version": "1" } as const;
const WEBRTC_HEADERS = { ...API_HEADERS, "Reactor-WebRTC-Version": "1.0" } as const;

export interface RequestOptions {
  operation: string;
  body?: unknown;
  /** Add `Reactor-WebRTC-Version` (signalling routes). */
  webrtc?: boolean;
  /** Send `Authorization` (default true). */
  auth?: boolean;
  signal?: AbortSignal;
  /** Statuses treated as success besides 2xx (e.g. 404 for DELETE). */
  alsoOk?: number[];
  keepalive?: boolean;
}

export type TokenSource = () => Promise<string | undefined>;

export class HttpApi {
  constructor(
    readonly baseUrl: string,
    private readonly token: TokenSource,
  ) {}

  url(path: string): string {
    return `${this.baseUrl.replace(/\/+$/, "")}${path}`;
  }

  async request(method: string, path: string, opts: RequestOptions): Promise<Response> {
    const headers: Record<string, string> = { ...(opts.webrtc ? WEBRTC_HEADERS : API_HEADERS) };
    if (opts.auth !== false) {
      const token = await this.token();
      if (token) headers["Authorization"] = `Bearer ${token}`;
    }
    let body: string | undefined;
    if (opts.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(opts.body);
    }
    let response: Response;
    try {
      response = await fetch(this.url(path), {
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(opts.keepalive ? { keepalive: true } : {}),
      });
    } catch (exc) {
      throw networkError(exc, opts.operation);
    }
    if (!response.ok && !(opts.alsoOk ?? []).includes(response.status)) {
      const text = await response.text().catch(() => "");
      throw httpError(response.status, text, opts.operation, response.headers.get("Retry-After"));
    }
    return response;
  }

  async json<T>(method: string, path: string, opts: RequestOptions): Promise<{ status: number; data: T }> {
    const response = await this.request(method, path, opts);
    const text = await response.text();
    if (!text.trim()) return { status: response.status, data: undefined as T };
    try {
      return { status: response.status, data: JSON.parse(text) as T };
    } catch (exc) {
      throw new ReactorError("DECODE_FAILED", `unparseable response from ${path}: ${String(exc)}`, {
        component: "api",
        operation: opts.operation,
        status: response.status,
      });
    }
  }

  /** `PUT` raw bytes to a presigned upload URL: no `Authorization`, no version headers. */
  async putBytes(url: string, data: Blob, mimeType: string, signal?: AbortSignal): Promise<void> {
    let response: Response;
    try {
      response = await fetch(url, {
        method: "PUT",
        headers: { "Content-Type": mimeType },
        body: data,
        ...(signal ? { signal } : {}),
      });
    } catch (exc) {
      throw networkError(exc, "upload_file");
    }
    if (!response.ok) {
      const text = await response.text().catch(() => "");
      throw httpError(response.status, text, "upload_file", response.headers.get("Retry-After"));
    }
  }
}

function networkError(exc: unknown, operation: string): ReactorError {
  if (isReactorError(exc)) return exc;
  if (exc instanceof DOMException && exc.name === "AbortError") {
    return new ReactorError("ABORTED", "cancelled by disconnect()", { component: "api", operation });
  }
  const message = exc instanceof Error ? exc.message : String(exc);
  return new ReactorError("NETWORK_ERROR", `network error: ${message}`, { component: "api", operation, cause: exc });
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new ReactorError("ABORTED", "cancelled by disconnect()", { component: "api" }));
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new ReactorError("ABORTED", "cancelled by disconnect()", { component: "api" }));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
