// Seed J5 (§2.2.2), wrapped: a `reactor` in scope, top-level await in a module.
import type { Reactor } from "@reactor-team/js-sdk";
declare const reactor: Reactor;

// --- snippet ---
// Terminate the session
await reactor.disconnect();

// Disconnect but keep the session alive on the server
await reactor.disconnect(true);
await reactor.reconnect();
// --- end ---
