import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

import { decode, toJson, wireChannel, type ChannelName, type Origin, type WireMessage } from "./codec.js";
import { codeForStatus, isRecoverableCode } from "./errors.js";

interface Golden {
  cases: { name: string; origin: Origin; channel: ChannelName; wire: unknown; message: WireMessage }[];
  invalid: { name: string; origin: Origin; raw: string }[];
  error_codes: Record<string, boolean>;
  http_status_codes: Record<string, string>;
}

// Shared with the Python codec's tests (tests/e2e_browser/test_v0_golden.py).
const golden = JSON.parse(readFileSync(new URL("../test/fixtures/v0_golden.json", import.meta.url), "utf8")) as Golden;

describe("v0 codec against the shared golden examples", () => {
  it.each(golden.cases.map((c) => [c.name, c] as const))("decodes %s", (_name, c) => {
    expect(decode(JSON.stringify(c.wire), c.origin)).toEqual(c.message);
  });

  it.each(golden.cases.map((c) => [c.name, c] as const))("encodes %s", (_name, c) => {
    expect(toJson(c.message, c.origin)).toEqual(c.wire);
    expect(wireChannel(c.message)).toBe(c.channel);
  });

  it.each(golden.invalid.map((c) => [c.name, c] as const))("refuses %s", (_name, c) => {
    expect(() => decode(c.raw, c.origin)).toThrowError(expect.objectContaining({ code: "DECODE_FAILED" }) as Error);
  });

  it("accepts JSON in binary frames", () => {
    const bytes = new TextEncoder().encode(JSON.stringify(golden.cases[0]!.wire));
    expect(decode(bytes, golden.cases[0]!.origin)).toEqual(golden.cases[0]!.message);
  });

  it("refuses to encode a message the origin cannot send", () => {
    expect(() => toJson({ kind: "ping" }, "server")).toThrow(TypeError);
    expect(() => toJson({ kind: "sessionEnded", reason: "x" }, "client")).toThrow(TypeError);
  });

  it("shares the error-code table with the Python SDK", () => {
    for (const [code, recoverable] of Object.entries(golden.error_codes)) expect([code, isRecoverableCode(code)]).toEqual([code, recoverable]);
    for (const [status, code] of Object.entries(golden.http_status_codes)) expect([status, codeForStatus(Number(status))]).toEqual([status, code]);
  });
});
