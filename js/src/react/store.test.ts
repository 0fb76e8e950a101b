import { describe, expect, it } from "vitest";

import { ReactorError } from "../errors.js";
import { Reactor } from "../reactor.js";
import { createReactorStore } from "./store.js";

// Drive the client's events directly (emit is protected: this is the test's back door).
function setup() {
  const reactor = new Reactor({ modelName: "m", local: true });
  const { store, detach } = createReactorStore(reactor, { token: () => ({}), connectOptions: () => ({}) });
  const emit = (reactor as unknown as { emit: (e: string, ...a: unknown[]) => void }).emit.bind(reactor);
  return { reactor, store, detach, emit };
}

describe("the React store", () => {
  it("follows status, session id and tracks; resets tracks on disconnected", () => {
    const { store, emit } = setup();
    emit("statusChanged", "connecting");
    emit("sessionIdChanged", "s1");
    const track = { kind: "video" } as MediaStreamTrack;
    emit("trackReceived", "main_video", track, {} as MediaStream);
    expect(store.getState()).toMatchObject({ status: "connecting", sessionId: "s1", tracks: { main_video: track } });
    emit("statusChanged", "disconnected");
    expect(store.getState().tracks).toEqual({});
    expect(store.getState().sessionId).toBe("s1");
  });

  it("sets lastError per error event (a new object each time) and clears it when an attempt starts", () => {
    const { store, emit } = setup();
    const a = new ReactorError("DISCONNECTED", "x", { component: "gpu" });
    const b = new ReactorError("DISCONNECTED", "x", { component: "gpu" });
    emit("error", a);
    expect(store.getState().lastError).toBe(a);
    emit("error", b);
    expect(store.getState().lastError).toBe(b);
    emit("statusChanged", "connecting");
    expect(store.getState().lastError).toBeUndefined();
  });

  it("keeps action identities stable across state changes", () => {
    const { store, emit } = setup();
    const before = store.getState();
    emit("statusChanged", "connecting");
    emit("error", new ReactorError("DISCONNECTED", "x", { component: "gpu" }));
    const after = store.getState();
    for (const key of ["sendCommand", "connect", "disconnect", "reconnect", "uploadFile", "publish", "unpublish", "clearError"] as const) {
      expect(after[key]).toBe(before[key]);
    }
  });

  it("records a failed fire-and-forget action in lastError without an unhandled rejection", async () => {
    const { store } = setup();
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown): void => void unhandled.push(e);
    process.on("unhandledRejection", onUnhandled);
    void store.getState().sendCommand("set_prompt", { prompt: "x" });
    await new Promise((r) => setTimeout(r, 20));
    process.off("unhandledRejection", onUnhandled);
    expect(unhandled).toEqual([]);
    expect(store.getState().lastError?.code).toBe("INVALID_STATE");
    // Awaiting callers still see the rejection.
    await expect(store.getState().reconnect()).rejects.toMatchObject({ code: "INVALID_STATE" });
    store.getState().clearError();
    expect(store.getState().lastError).toBeUndefined();
  });

  it("does not record ABORTED (the app caused it)", async () => {
    const { store, reactor } = setup();
    const pending = store.getState().connect(); // to a port nothing listens on... cancelled at once
    await reactor.disconnect();
    await pending.catch(() => undefined);
    expect(store.getState().lastError?.code).not.toBe("ABORTED");
  });

  it("stops following the client after detach", () => {
    const { store, emit, detach } = setup();
    detach();
    emit("statusChanged", "connecting");
    expect(store.getState().status).toBe("disconnected");
  });
});
