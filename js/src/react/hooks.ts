import { useEffect, useRef, useState, useSyncExternalStore } from "react";

import type { ModelMessage } from "../reactor.js";
import type { ConnectionStats } from "../stats.js";
import { useStoreContext } from "./context.js";
import { shallowEqual } from "./shallow.js";
import type { ReactorState } from "./store.js";

/** Select from the store; the result is shallow-compared, so `(s) => ({ ... })` does not loop. */
export function useReactor<T>(selector: (state: ReactorState) => T): T {
  const store = useStoreContext("useReactor");
  const last = useRef<{ value: T } | null>(null);
  const getSnapshot = (): T => {
    const next = selector(store.getState());
    if (last.current !== null && shallowEqual(last.current.value, next)) return last.current.value;
    last.current = { value: next };
    return next;
  };
  return useSyncExternalStore(store.subscribe, getSnapshot, getSnapshot);
}

/** A raw store selector (no shallow compare). */
export function useReactorStore<T>(selector: (state: ReactorState) => T): T {
  const store = useStoreContext("useReactorStore");
  const get = (): T => selector(store.getState());
  return useSyncExternalStore(store.subscribe, get, get);
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
