import { useEffect, useRef, useState } from "react";
import { useStore } from "zustand";
import { useShallow } from "zustand/react/shallow";

import type { ModelMessage } from "../reactor.js";
import type { ConnectionStats } from "../stats.js";
import { useStoreContext } from "./context.js";
import type { ReactorState } from "./store.js";

/** Select from the store; the result is shallow-compared, so `(s) => ({ ... })` does not loop. */
export function useReactor<T>(selector: (state: ReactorState) => T): T {
  const store = useStoreContext("useReactor");
  return useStore(store, useShallow(selector));
}

/** A raw store selector (no shallow compare). */
export function useReactorStore<T>(selector: (state: ReactorState) => T): T {
  const store = useStoreContext("useReactorStore");
  return useStore(store, selector);
}

/** Subscribe to model messages; the latest handler is used, so inline arrows are fine. */
export function useReactorMessage(handler: (message: ModelMessage) => void): void {
  const store = useStoreContext("useReactorMessage");
  const reactor = store.getState().internal.reactor;
  const ref = useRef(handler);
  ref.current = handler;
  useEffect(() => reactor.on("message", (message) => ref.current(message)), [reactor]);
}

/** Subscribe to runtime notices (`sessionEnded`, `moderation`, clips). */
export function useReactorInternalMessage(handler: (message: { type: string; data: unknown }) => void): void {
  const store = useStoreContext("useReactorInternalMessage");
  const reactor = store.getState().internal.reactor;
  const ref = useRef(handler);
  ref.current = handler;
  useEffect(() => reactor.on("runtimeMessage", (message) => ref.current(message)), [reactor]);
}

/** Connection statistics, refreshed about every 2 s while connected. */
export function useStats(): ConnectionStats | undefined {
  const store = useStoreContext("useStats");
  const reactor = store.getState().internal.reactor;
  const [stats, setStats] = useState<ConnectionStats | undefined>(undefined);
  useEffect(() => {
    setStats(reactor.getStats());
    const off = reactor.on("statsUpdate", setStats);
    return () => {
      off();
      setStats(undefined);
    };
  }, [reactor]);
  return stats;
}
