// Seed J1 (SDK-API.md §2.2.3), wrapped: a `reactor` in scope.
import type { Reactor } from "@reactor-team/js-sdk";
declare const reactor: Reactor;

// --- snippet ---
const video = document.getElementById("video") as HTMLVideoElement;
reactor.on("trackReceived", (name, track, stream) => {
  video.srcObject = stream;
});
// --- end ---
