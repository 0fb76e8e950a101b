import { afterEach, describe, expect, it, vi } from "vitest";

import { FileRef, isFileRef } from "./fileRef.js";
import { Reactor } from "./reactor.js";

describe("Reactor (no network)", () => {
  it("rejects unknown options naming the closest valid key", () => {
    expect(() => new Reactor({ modelName: "m", jwtToken: "x" } as never)).toThrowError(/unknown option 'jwtToken'.*did you mean 'jwt'/);
    expect(() => new Reactor({ modelName: "m", coordinatorUrl: "x" } as never)).toThrowError(TypeError);
    expect(() => new Reactor({} as never)).toThrowError(/modelName/);
  });

  it("defaults to our own server and starts disconnected", () => {
    const r = new Reactor({ modelName: "m" });
    expect(r.apiUrl).toBe("http://localhost:8080");
    expect(r.getStatus()).toBe("disconnected");
    expect(r.getSessionId()).toBeUndefined();
    expect(new Reactor({ modelName: "m", apiUrl: "http://h:1/" }).apiUrl).toBe("http://h:1");
  });

  it("refuses sends before ready with INVALID_STATE", async () => {
    const r = new Reactor({ modelName: "m", local: true });
    await expect(r.sendCommand("set_prompt", { prompt: "x" })).rejects.toMatchObject({ code: "INVALID_STATE", recoverable: false, component: "gpu" });
    await expect(r.uploadFile(new Blob(["x"]))).rejects.toMatchObject({ code: "INVALID_STATE", component: "api" });
    await expect(r.reconnect()).rejects.toMatchObject({ code: "INVALID_STATE" });
  });

  it("refuses API keys and missing tokens before any request", async () => {
    const errors: string[] = [];
    const r = new Reactor({ modelName: "m" });
    r.on("error", (e) => void errors.push(e.code));
    await expect(r.connect("rk_live_123")).rejects.toMatchObject({ code: "UNAUTHORIZED", message: expect.stringContaining("API key") as string });
    await expect(r.connect()).rejects.toMatchObject({ code: "UNAUTHORIZED" });
    expect(errors).toEqual(["UNAUTHORIZED", "UNAUTHORIZED"]);
    expect(r.getStatus()).toBe("disconnected");
  });

  it("maps a refused connection to NETWORK_ERROR (recoverable, api)", async () => {
    const r = new Reactor({ modelName: "m", local: true, apiUrl: "http://127.0.0.1:9" });
    const statuses: string[] = [];
    r.on("statusChanged", (s) => void statuses.push(s));
    await expect(r.connect()).rejects.toMatchObject({ code: "NETWORK_ERROR", recoverable: true, component: "api", operation: "connect" });
    expect(statuses).toEqual(["connecting", "disconnected"]);
  });

  it("disconnect() is safe to repeat and emits no error", async () => {
    const r = new Reactor({ modelName: "m" });
    let errors = 0;
    r.on("error", () => errors++);
    await r.disconnect();
    await r.disconnect(true);
    expect(errors).toBe(0);
  });
});

/** Stub `fetch`: records "METHOD /path Authorization" and answers through `answer`. */
function recordFetch(answer: (method: string, path: string) => Response): string[] {
  const seen: string[] = [];
  vi.stubGlobal("fetch", async (url: string, init: RequestInit) => {
    const method = init.method ?? "GET";
    const path = new URL(url).pathname;
    seen.push(`${method} ${path} ${(init.headers as Record<string, string>)["Authorization"] ?? "-"}`);
    return answer(method, path);
  });
  return seen;
}

const READY = {
  session_id: "s1",
  state: "WAITING",
  cluster: "local",
  model: { name: "m" },
  server_info: { server_version: "0" },
  selected_transport: { protocol: "webrtc", version: "1.0" },
  capabilities: { tracks: [] },
};

describe("token resolution", () => {
  afterEach(() => void vi.unstubAllGlobals());

  it("asks getJwt before every request, so a renewed token is used within one connect", async () => {
    let current = "a";
    const seen = recordFetch((method, path) => {
      if (method === "POST" && path === "/sessions") {
        current = "b"; // the app's token source renewed its token
        return Response.json(READY, { status: 201 });
      }
      if (method === "DELETE") return new Response(null, { status: 204 });
      return new Response("down", { status: 503 });
    });
    const r = new Reactor({ modelName: "m", apiUrl: "http://api", getJwt: () => current });
    await expect(r.connect()).rejects.toMatchObject({ code: "SERVER_ERROR" });
    expect(seen).toEqual([
      "POST /sessions Bearer a",
      "GET /sessions/s1/transport/webrtc/ice_servers Bearer b",
      "DELETE /sessions/s1 Bearer b",
    ]);
  });

  it("lets a token given to connect(jwt) win, and falls back from an empty getJwt to jwt or local's placeholder", async () => {
    const seen = recordFetch(() => new Response("down", { status: 503 }));
    await expect(new Reactor({ modelName: "m", apiUrl: "http://api", getJwt: () => "from-resolver" }).connect("explicit")).rejects.toThrow();
    await expect(new Reactor({ modelName: "m", apiUrl: "http://api", getJwt: () => "", jwt: "static" }).connect()).rejects.toThrow();
    await expect(new Reactor({ modelName: "m", apiUrl: "http://api", local: true, getJwt: () => "" }).connect()).rejects.toThrow();
    expect(seen).toEqual(["POST /sessions Bearer explicit", "POST /sessions Bearer static", "POST /start_session Bearer local"]);
    await expect(new Reactor({ modelName: "m", apiUrl: "http://api", getJwt: () => "" }).connect()).rejects.toMatchObject({ code: "UNAUTHORIZED" });
  });
});

describe("FileRef", () => {
  it("has the wire form and a brand that survives two bundles", () => {
    const ref = new FileRef("u-1", "a.png", "image/png", 3);
    expect(ref.toWire()).toEqual({ upload_id: "u-1", name: "a.png", mime_type: "image/png", size: 3 });
    expect(JSON.parse(JSON.stringify({ nested: ref }))).toEqual({ nested: ref.toWire() });
    expect(isFileRef(ref)).toBe(true);
    expect(isFileRef({ ...ref })).toBe(true);
    expect(isFileRef({ uploadId: "u" })).toBe(false);
    expect(Object.isFrozen(ref)).toBe(true);
  });
});
