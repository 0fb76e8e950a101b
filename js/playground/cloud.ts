/**
 * Cloud mode of the playground: which server to use and where its short-lived JWTs come from.
 *
 * The page never sees an API key. The server that serves the page (e.g.
 * examples/app_server/app.py) embeds a JSON config element naming the API's base URL, the model
 * and its own token route; that route swaps the key for a JWT on the server side. Without the
 * element the playground runs in local mode against the server that served it.
 */

import { ReactorError, type ErrorCode } from "@reactor-team/js-sdk";

export const CONFIG_ELEMENT_ID = "openreactor-playground-config";

export type PlaygroundConfig = { mode: "local" } | { mode: "cloud"; apiUrl: string; modelName: string; tokenEndpoint: string };

/**
 * The config embedded in the page. Only the serving page can set it (never the URL's query), so a
 * crafted link cannot make the page send its JWT to another server.
 */
export function readPlaygroundConfig(doc: Pick<Document, "getElementById">): PlaygroundConfig {
  const element = doc.getElementById(CONFIG_ELEMENT_ID);
  if (!element) return { mode: "local" };
  let raw: unknown;
  try {
    raw = JSON.parse(element.textContent ?? "");
  } catch (exc) {
    throw new Error(`#${CONFIG_ELEMENT_ID} is not JSON: ${String(exc)}`);
  }
  const config = (raw ?? {}) as Record<string, unknown>;
  if (config["mode"] === "local") return { mode: "local" };
  if (config["mode"] !== "cloud") throw new Error(`#${CONFIG_ELEMENT_ID}: mode must be "local" or "cloud"`);
  const field = (name: string): string => {
    const value = config[name];
    if (typeof value !== "string" || !value) throw new Error(`#${CONFIG_ELEMENT_ID}: cloud mode needs a non-empty string '${name}'`);
    return value;
  };
  const apiUrl = field("apiUrl");
  let protocol = "";
  try {
    protocol = new URL(apiUrl).protocol;
  } catch {
    // reported below
  }
  if (protocol !== "http:" && protocol !== "https:") throw new Error(`#${CONFIG_ELEMENT_ID}: apiUrl must be an absolute http(s) URL`);
  return { mode: "cloud", apiUrl: apiUrl.replace(/\/+$/, ""), modelName: field("modelName"), tokenEndpoint: field("tokenEndpoint") };
}

export interface TokenSource {
  /** A JWT valid for at least the refresh margin; fetched only when the cached one runs out. */
  get: () => Promise<string>;
  /** Forget the cached token (the next `get` fetches). */
  clear: () => void;
}

export interface TokenSourceOptions {
  fetch?: typeof fetch;
  /** Milliseconds since the epoch (tests pass a fake clock). */
  now?: () => number;
  /** Renew this long before `expires_at` (default 60 s, at most half the token's lifetime). */
  refreshMarginMs?: number;
}

/** Used at most this long when the endpoint gives no `expires_at` (the older `{jwt}` form). */
const UNDATED_TOKEN_MS = 60_000;

function codeFor(status: number): ErrorCode {
  if (status === 401 || status === 403) return "UNAUTHORIZED";
  if (status === 429) return "RATE_LIMITED";
  if (status >= 500) return "SERVER_ERROR";
  return "BAD_REQUEST";
}

function detailOf(body: string): string {
  try {
    const parsed = JSON.parse(body) as Record<string, unknown>;
    const parts = [parsed["error"], parsed["detail"]].filter((p): p is string => typeof p === "string" && p !== "");
    if (parts.length) return parts.join(": ");
  } catch {
    // not JSON: use the text
  }
  return body.trim().slice(0, 300);
}

/**
 * A `getJwt` for the SDK. The SDK asks before every HTTP request (a dozen per connect), so the
 * token is cached until shortly before it expires, and concurrent callers share one fetch; that
 * keeps the app server and the API's `/tokens` rate limit out of the hot path.
 */
export function createTokenSource(endpoint: string, options: TokenSourceOptions = {}): TokenSource {
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init));
  const now = options.now ?? Date.now;
  const margin = options.refreshMarginMs ?? 60_000;
  let cached: { jwt: string; renewAt: number } | undefined;
  let inflight: Promise<string> | undefined;

  const fail = (code: ErrorCode, message: string, extra: { status?: number; retryAfterMs?: number; cause?: unknown } = {}): ReactorError =>
    new ReactorError(code, message, { component: "api", operation: "get_jwt", ...extra });

  async function fetchToken(): Promise<string> {
    const started = now();
    let response: Response;
    try {
      // Same-origin POST: the app server's own cookies identify the user; no-store keeps
      // tokens out of HTTP caches.
      response = await doFetch(endpoint, { method: "POST", credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } });
    } catch (exc) {
      throw fail("NETWORK_ERROR", `token endpoint ${endpoint} unreachable: ${exc instanceof Error ? exc.message : String(exc)}`, { cause: exc });
    }
    const text = await response.text().catch(() => "");
    if (!response.ok) {
      const retryAfter = Number(response.headers.get("Retry-After"));
      throw fail(codeFor(response.status), `token endpoint ${endpoint} answered ${response.status}${text ? `: ${detailOf(text)}` : ""}`, {
        status: response.status,
        ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterMs: retryAfter * 1000 } : {}),
      });
    }
    let body: { jwt?: unknown; expires_at?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw fail("DECODE_FAILED", `token endpoint ${endpoint} did not answer JSON`);
    }
    if (typeof body?.jwt !== "string" || !body.jwt) throw fail("DECODE_FAILED", `token endpoint ${endpoint} answered without a 'jwt'`);
    if (body.jwt.startsWith("rk_")) {
      throw fail("UNAUTHORIZED", `token endpoint ${endpoint} returned an API key instead of a JWT: keys must stay on the server`);
    }
    const expiresAt = typeof body.expires_at === "number" ? body.expires_at * 1000 : started + UNDATED_TOKEN_MS;
    const lifetime = Math.max(0, expiresAt - started);
    cached = { jwt: body.jwt, renewAt: expiresAt - Math.min(margin, lifetime / 2) };
    return body.jwt;
  }

  return {
    get(): Promise<string> {
      if (cached && now() < cached.renewAt) return Promise.resolve(cached.jwt);
      inflight ??= fetchToken().finally(() => {
        inflight = undefined;
      });
      return inflight;
    },
    clear(): void {
      cached = undefined;
    },
  };
}
