import { describe, expect, it } from "vitest";

import { isReactorError } from "@reactor-team/js-sdk";

import { CONFIG_ELEMENT_ID, createTokenSource, readPlaygroundConfig } from "./cloud.js";

function docWith(text: string | undefined): Pick<Document, "getElementById"> {
  return { getElementById: (id: string) => (id === CONFIG_ELEMENT_ID && text !== undefined ? ({ textContent: text } as HTMLElement) : null) };
}

describe("readPlaygroundConfig", () => {
  it("is local mode without the config element", () => {
    expect(readPlaygroundConfig(docWith(undefined))).toEqual({ mode: "local" });
    expect(readPlaygroundConfig(docWith('{"mode": "local"}'))).toEqual({ mode: "local" });
  });

  it("reads cloud mode and ignores extra fields", () => {
    const text = JSON.stringify({ mode: "cloud", apiUrl: "http://127.0.0.1:8080/", modelName: "probe", tokenEndpoint: "/api/reactor-token", x: 1 });
    expect(readPlaygroundConfig(docWith(text))).toEqual({
      mode: "cloud",
      apiUrl: "http://127.0.0.1:8080",
      modelName: "probe",
      tokenEndpoint: "/api/reactor-token",
    });
  });

  it("refuses a broken config instead of silently falling back to local mode", () => {
    expect(() => readPlaygroundConfig(docWith("{"))).toThrowError(/not JSON/);
    expect(() => readPlaygroundConfig(docWith('{"mode": "other"}'))).toThrowError(/mode must be/);
    expect(() => readPlaygroundConfig(docWith('{"mode": "cloud", "apiUrl": "http://a", "modelName": "m"}'))).toThrowError(/tokenEndpoint/);
    expect(() => readPlaygroundConfig(docWith('{"mode": "cloud", "apiUrl": "", "modelName": "m", "tokenEndpoint": "/t"}'))).toThrowError(/apiUrl/);
    expect(() => readPlaygroundConfig(docWith('{"mode": "cloud", "apiUrl": "/api", "modelName": "m", "tokenEndpoint": "/t"}'))).toThrowError(/absolute/);
    expect(() => readPlaygroundConfig(docWith('{"mode": "cloud", "apiUrl": "javascript:x", "modelName": "m", "tokenEndpoint": "/t"}'))).toThrowError(/absolute/);
  });
});

interface Call {
  url: string;
  init: RequestInit | undefined;
}

/** A fake `fetch` answering from a queue of [status, body, headers]. */
function fakeFetch(answers: [number, string, Record<string, string>?][]): { fetch: typeof fetch; calls: Call[] } {
  const calls: Call[] = [];
  const fn = (async (input: RequestInfo | URL, init?: RequestInit) => {
    calls.push({ url: String(input), init });
    const next = answers.shift();
    if (!next) throw new TypeError("Failed to fetch");
    const [status, body, headers] = next;
    return new Response(body, { status, headers: headers ?? {} });
  }) as typeof fetch;
  return { fetch: fn, calls };
}

describe("createTokenSource", () => {
  it("POSTs to the endpoint once and serves the cached token until the refresh margin", async () => {
    let now = 1_000_000_000_000;
    const exp = now / 1000 + 600;
    const { fetch, calls } = fakeFetch([
      [200, JSON.stringify({ jwt: "t1", expires_at: exp })],
      [200, JSON.stringify({ jwt: "t2", expires_at: exp + 600 })],
    ]);
    const source = createTokenSource("/api/reactor-token", { fetch, now: () => now });
    expect(await source.get()).toBe("t1");
    now += 500_000; // 100 s left: still outside the 60 s margin
    expect(await source.get()).toBe("t1");
    expect(calls).toHaveLength(1);
    expect(calls[0]!.url).toBe("/api/reactor-token");
    expect(calls[0]!.init).toMatchObject({ method: "POST", credentials: "same-origin", cache: "no-store" });
    now += 50_000; // 50 s left: renew
    expect(await source.get()).toBe("t2");
    expect(calls).toHaveLength(2);
  });

  it("shares one fetch between concurrent callers", async () => {
    const { fetch, calls } = fakeFetch([[200, JSON.stringify({ jwt: "t1", expires_at: Date.now() / 1000 + 600 })]]);
    const source = createTokenSource("/t", { fetch });
    expect(await Promise.all([source.get(), source.get(), source.get()])).toEqual(["t1", "t1", "t1"]);
    expect(calls).toHaveLength(1);
  });

  it("renews a very short token at half its life, and an undated one after at most 60 s", async () => {
    let now = 2_000_000_000_000;
    const { fetch, calls } = fakeFetch([
      [200, JSON.stringify({ jwt: "short", expires_at: now / 1000 + 20 })],
      [200, JSON.stringify({ jwt: "undated" })],
      [200, JSON.stringify({ jwt: "next" })],
    ]);
    const source = createTokenSource("/t", { fetch, now: () => now });
    expect(await source.get()).toBe("short");
    now += 9_000;
    expect(await source.get()).toBe("short");
    now += 2_000;
    expect(await source.get()).toBe("undated");
    now += 29_000;
    expect(await source.get()).toBe("undated");
    now += 2_000;
    expect(await source.get()).toBe("next");
    expect(calls).toHaveLength(3);
  });

  it("clear() forgets the cached token", async () => {
    const exp = Date.now() / 1000 + 600;
    const { fetch } = fakeFetch([
      [200, JSON.stringify({ jwt: "a", expires_at: exp })],
      [200, JSON.stringify({ jwt: "b", expires_at: exp })],
    ]);
    const source = createTokenSource("/t", { fetch });
    expect(await source.get()).toBe("a");
    source.clear();
    expect(await source.get()).toBe("b");
  });

  it("turns a refusal into a ReactorError that carries the endpoint's explanation, then retries", async () => {
    const { fetch, calls } = fakeFetch([
      [502, JSON.stringify({ error: "token exchange failed", detail: "upstream answered 401: unknown or revoked API key" })],
      [429, JSON.stringify({ error: "slow down" }), { "Retry-After": "7" }],
      [200, JSON.stringify({ jwt: "ok", expires_at: Date.now() / 1000 + 600 })],
    ]);
    const source = createTokenSource("/api/reactor-token", { fetch });
    const first = await source.get().catch((e: unknown) => e);
    expect(isReactorError(first)).toBe(true);
    expect(first).toMatchObject({ code: "SERVER_ERROR", status: 502, component: "api", operation: "get_jwt" });
    expect(String((first as Error).message)).toBe(
      "token endpoint /api/reactor-token answered 502: token exchange failed: upstream answered 401: unknown or revoked API key",
    );
    await expect(source.get()).rejects.toMatchObject({ code: "RATE_LIMITED", retryAfter: 7, recoverable: true });
    expect(await source.get()).toBe("ok");
    expect(calls).toHaveLength(3);
  });

  it("maps 401 to UNAUTHORIZED, network failures to NETWORK_ERROR and bad bodies to DECODE_FAILED", async () => {
    const cases: [[number, string][], string][] = [
      [[[401, "please log in"]], "UNAUTHORIZED"],
      [[], "NETWORK_ERROR"],
      [[[200, "<html>"]], "DECODE_FAILED"],
      [[[200, JSON.stringify({ token: "x" })]], "DECODE_FAILED"],
    ];
    for (const [answers, code] of cases) {
      const { fetch } = fakeFetch(answers);
      await expect(createTokenSource("/t", { fetch }).get()).rejects.toMatchObject({ code });
    }
  });

  it("refuses an API key handed out as if it were a token", async () => {
    const { fetch } = fakeFetch([[200, JSON.stringify({ jwt: "rk_live_oops", expires_at: Date.now() / 1000 + 600 })]]);
    await expect(createTokenSource("/t", { fetch }).get()).rejects.toMatchObject({
      code: "UNAUTHORIZED",
      message: expect.stringContaining("API key") as string,
    });
  });
});
