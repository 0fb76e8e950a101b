// Seed J3 (§2.2.2), wrapped: a `reactor` in scope.
import type { Reactor } from "@reactor-team/js-sdk";
declare const reactor: Reactor;

// --- snippet ---
reactor.on("statusChanged", async (status) => {
  if (status === "ready") {
    await reactor.sendCommand("set_prompt", { prompt: "a forest at dawn" });
  }
});
// --- end ---
