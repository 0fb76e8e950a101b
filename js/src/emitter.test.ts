import { describe, expect, it, vi } from "vitest";

import { Emitter } from "./emitter.js";

interface Events {
  ping: (n: number) => unknown;
}

class TestEmitter extends Emitter<Events> {
  fire(n: number): void {
    this.emit("ping", n);
  }
}

describe("Emitter", () => {
  it("returns an unsubscribe function and ignores duplicate handlers", () => {
    const e = new TestEmitter();
    const seen: number[] = [];
    const handler = (n: number): void => void seen.push(n);
    const off = e.on("ping", handler);
    e.on("ping", handler);
    e.fire(1);
    off();
    e.fire(2);
    expect(seen).toEqual([1]);
  });

  it("keeps going when a handler throws or rejects, and logs it", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const e = new TestEmitter();
    const seen: number[] = [];
    e.on("ping", () => {
      throw new Error("sync");
    });
    e.on("ping", async () => {
      throw new Error("async");
    });
    e.on("ping", (n) => void seen.push(n));
    e.fire(3);
    await new Promise((r) => setTimeout(r, 0));
    expect(seen).toEqual([3]);
    expect(errors).toHaveBeenCalledTimes(2);
    errors.mockRestore();
  });

  it("once fires once", () => {
    const e = new TestEmitter();
    let count = 0;
    e.once("ping", () => count++);
    e.fire(1);
    e.fire(2);
    expect(count).toBe(1);
  });
});
