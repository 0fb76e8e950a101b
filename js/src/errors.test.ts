import { describe, expect, it } from "vitest";

import { ErrorCodes, ReactorError, asReactorError, httpError, isReactorError, parseRetryAfter } from "./errors.js";

describe("ReactorError", () => {
  it("derives recoverable from the code and carries the seed's fields", () => {
    const before = Date.now();
    const e = new ReactorError("DISCONNECTED", "gone", { component: "gpu" });
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe("ReactorError");
    expect(e.recoverable).toBe(true);
    expect(e.component).toBe("gpu");
    expect(e.retryAfter).toBeUndefined();
    expect(e.timestamp).toBeGreaterThanOrEqual(before);
    expect(e.timestampMs).toBe(e.timestamp);
    expect(String(e)).toBe("[gpu:DISCONNECTED] gone");
    expect(new ReactorError("made_up_code", "?", { component: "gpu" }).recoverable).toBe(false);
  });

  it("has every code of SDK-API.md §1.3.3", () => {
    expect(Object.keys(ErrorCodes)).toHaveLength(21);
    for (const [k, v] of Object.entries(ErrorCodes)) expect(k).toBe(v);
  });

  it("maps HTTP failures, with Retry-After in delta-seconds only", () => {
    const e = httpError(429, '{"detail": "slow down"}', "connect", "7");
    expect(e.code).toBe("RATE_LIMITED");
    expect(e.recoverable).toBe(true);
    expect(e.retryAfter).toBe(7);
    expect(e.retryAfterMs).toBe(7000);
    expect(e.status).toBe(429);
    expect(e.operation).toBe("connect");
    expect(e.component).toBe("api");
    expect(e.message).toContain("slow down");
    expect(httpError(503, "", "connect", "Wed, 21 Oct 2015 07:28:00 GMT").retryAfter).toBeUndefined();
    expect(httpError(401, "no", "connect", null).recoverable).toBe(false);
    expect(parseRetryAfter(" 1.5 ")).toBe(1500);
    expect(parseRetryAfter("-1")).toBeUndefined();
  });

  it("is recognised across bundles by name and code", () => {
    const foreign = Object.assign(new Error("x"), { name: "ReactorError", code: "NOT_FOUND" });
    expect(isReactorError(foreign)).toBe(true);
    expect(isReactorError(new Error("x"))).toBe(false);
    const wrapped = asReactorError(new Error("boom"), { component: "api", operation: "upload_file" });
    expect(wrapped.code).toBe("INTERNAL_ERROR");
    expect(wrapped.operation).toBe("upload_file");
  });
});
