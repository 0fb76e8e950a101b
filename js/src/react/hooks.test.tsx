// @vitest-environment jsdom
import { act, useEffect } from "react";
import { createRoot } from "react-dom/client";
import { afterEach, describe, expect, it, vi } from "vitest";

import { ReactorError } from "../errors.js";
import type { Reactor } from "../reactor.js";
import { useReactor, useReactorStore } from "./hooks.js";
import type { ReactorState } from "./store.js";
import { ReactorProvider } from "./provider.js";

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

let cleanup: (() => void) | undefined;
afterEach(() => {
  cleanup?.();
  cleanup = undefined;
});

function render(node: React.ReactNode): HTMLDivElement {
  const host = document.createElement("div");
  document.body.appendChild(host);
  const root = createRoot(host);
  act(() => root.render(node));
  cleanup = () => act(() => root.unmount());
  return host;
}

describe("useReactor", () => {
  it("throws outside a provider", () => {
    function Bad() {
      useReactor((s) => s.status);
      return null;
    }
    const host = document.createElement("div");
    const root = createRoot(host);
    const errors: unknown[] = [];
    const original = console.error;
    console.error = () => undefined;
    try {
      act(() => root.render(<Bad />));
    } catch (e) {
      errors.push(e);
    } finally {
      console.error = original;
    }
    expect(String(errors[0])).toContain("useReactor must be used within a ReactorProvider");
  });

  it("does not loop with whole-state or fresh-object selectors; the J7 effect runs once per error", () => {
    let renders = 0;
    let effects = 0;
    let reactor: Reactor | undefined;
    function Seed() {
      const { sendCommand, status } = useReactor((s) => s);
      const { reconnect, lastError } = useReactor((s) => ({ reconnect: s.reconnect, lastError: s.lastError }));
      reactor = useReactorStore((s) => s.internal.reactor);
      renders++;
      useEffect(() => {
        effects++;
      }, [lastError, reconnect]);
      return <button disabled={status !== "ready"} onClick={() => sendCommand("set_prompt", {})} />;
    }
    render(
      <ReactorProvider modelName="m" local>
        <Seed />
      </ReactorProvider>,
    );
    expect(renders).toBeLessThan(5);
    const emit = (reactor as unknown as { emit: (e: string, ...a: unknown[]) => void }).emit.bind(reactor);
    act(() => emit("error", new ReactorError("DISCONNECTED", "x", { component: "gpu" })));
    act(() => emit("error", new ReactorError("DISCONNECTED", "x", { component: "gpu" })));
    expect(effects).toBe(3);
    expect(renders).toBeLessThan(10);
  });
});

describe("ReactorProvider tokens", () => {
  afterEach(() => void vi.unstubAllGlobals());

  it("resolves getJwt / jwtToken per request, never pinning the token of the first connect", async () => {
    let token = "a";
    const seen: string[] = [];
    vi.stubGlobal("fetch", async (url: string, init: RequestInit) => {
      const path = new URL(url).pathname;
      seen.push(`${init.method} ${path} ${(init.headers as Record<string, string>)["Authorization"]}`);
      if (init.method === "POST" && path === "/sessions") {
        token = "b"; // the token source renewed its token mid-connect
        const caps = { tracks: [] };
        return Response.json({ session_id: "s1", state: "WAITING", cluster: "c", model: { name: "m" }, server_info: {}, selected_transport: { protocol: "webrtc", version: "1.0" }, capabilities: caps }, { status: 201 });
      }
      return init.method === "DELETE" ? new Response(null, { status: 204 }) : new Response("down", { status: 503 });
    });
    let state: ReactorState | undefined;
    function Grab() {
      state = useReactorStore((s) => s);
      return null;
    }
    const tree = (props: { getJwt?: () => string; jwtToken?: string }) => (
      <ReactorProvider modelName="m" apiUrl="http://api" {...props}>
        <Grab />
      </ReactorProvider>
    );
    const host = document.createElement("div");
    const root = createRoot(host);
    cleanup = () => act(() => root.unmount());
    act(() => root.render(tree({ getJwt: () => token })));
    await act(async () => void (await state!.connect().catch(() => undefined)));
    expect(seen).toEqual(["POST /sessions Bearer a", "GET /sessions/s1/transport/webrtc/ice_servers Bearer b", "DELETE /sessions/s1 Bearer b"]);
    // A static token given later is read at the moment it is needed (no client rebuild).
    seen.length = 0;
    act(() => root.render(tree({ jwtToken: "static" })));
    await act(async () => void (await state!.connect().catch(() => undefined)));
    expect(seen[0]).toBe("POST /sessions Bearer static");
  });
});
