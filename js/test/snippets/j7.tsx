// Seed J7 (§2.3.4), wrapped: `useEffect` imported.
import { useEffect } from "react";
// --- snippet ---
import { useReactor } from "@reactor-team/js-sdk";

const { reconnect, lastError } = useReactor((s) => ({
  reconnect: s.reconnect,
  lastError: s.lastError,
}));

// Watch the store's lastError and reconnect when a recoverable error lands.
useEffect(() => {
  if (lastError?.recoverable) {
    const timer = setTimeout(() => reconnect(), (lastError.retryAfter ?? 3) * 1000);
    return () => clearTimeout(timer);
  }
}, [lastError, reconnect]);
// --- end ---
