// The upload example of SDK-API.md §2.2.3, wrapped.
import type { Reactor } from "@reactor-team/js-sdk";
declare const reactor: Reactor;
declare const input: HTMLInputElement;

// --- snippet ---
const ref = await reactor.uploadFile(input.files![0]);
await reactor.sendCommand("send_image", { image: ref, weight: 0.8 });
// --- end ---
