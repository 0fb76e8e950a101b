import { describe, expect, it } from "vitest";

import { LOOPBACK_HINT, NO_LOCAL_CANDIDATE_HINT, candidatesOfSdp, describeCandidates, explainIce, isLoopbackAddress, parseCandidate } from "./ice.js";

const MDNS = "candidate:2129227259 1 udp 2113937151 a8068517-cb2b-4264-8b11-f758ac5bdf93.local 49071 typ host generation 0 ufrag Vueg network-cost 999";
const ANSWER = [
  "v=0",
  "m=video 55120 UDP/TLS/RTP/SAVPF 96",
  "a=candidate:b3e1 1 udp 2130706431 127.0.0.1 55120 typ host",
  "a=end-of-candidates",
  "m=application 55120 UDP/DTLS/SCTP webrtc-datachannel",
  "a=candidate:b3e1 1 udp 2130706431 127.0.0.1 55120 typ host",
].join("\r\n");

describe("ICE diagnosis", () => {
  it("parses candidate lines from the browser and from SDP", () => {
    expect(parseCandidate(MDNS)).toEqual({ kind: "host", address: "a8068517-cb2b-4264-8b11-f758ac5bdf93.local", port: "49071", protocol: "udp" });
    expect(parseCandidate("a=candidate:1 1 UDP 1 10.0.0.5 9 typ srflx raddr 0.0.0.0 rport 0")).toMatchObject({ kind: "srflx", protocol: "udp" });
    expect(parseCandidate("a=end-of-candidates")).toBeUndefined();
    expect(candidatesOfSdp(ANSWER)).toEqual([{ kind: "host", address: "127.0.0.1", port: "55120", protocol: "udp" }]);
    expect(describeCandidates(candidatesOfSdp(ANSWER))).toBe("127.0.0.1:55120 host");
    expect(describeCandidates([])).toBe("none");
  });

  it("knows loopback addresses", () => {
    for (const a of ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"]) expect(isLoopbackAddress(a)).toBe(true);
    for (const a of ["192.0.2.2", "10.0.0.1", "fd00::2", "x.local", "127.0.0.1.example"]) expect(isLoopbackAddress(a)).toBe(false);
  });

  it("names both ends and hints at the fix when the server offers only loopback", () => {
    const remote = candidatesOfSdp(ANSWER);
    const none = explainIce("not connected within 30 s (ICE new).", [], remote);
    expect(none).toContain("Local candidates: none.");
    expect(none).toContain("Server candidates: 127.0.0.1:55120 host.");
    expect(none).toContain(NO_LOCAL_CANDIDATE_HINT);
    expect(none).toContain(LOOPBACK_HINT);
    expect(none).toMatch(/without --ice-host/);
    expect(none).toMatch(/--allow-loopback-in-peer-connection/);
    const mdns = explainIce("ICE failed.", [parseCandidate(MDNS)!], remote);
    expect(mdns).toContain("Local candidates: a8068517-cb2b-4264-8b11-f758ac5bdf93.local:49071 host.");
    expect(mdns).not.toContain(NO_LOCAL_CANDIDATE_HINT);
    expect(mdns).toContain(LOOPBACK_HINT);
    // A server on a LAN address: no loopback hint.
    const lan = explainIce("ICE failed.", [parseCandidate(MDNS)!], [{ kind: "host", address: "192.0.2.2", port: "1", protocol: "udp" }]);
    expect(lan).not.toContain(LOOPBACK_HINT);
    // Before the answer the server's candidates are unknown.
    expect(explainIce("x.", [], undefined)).not.toContain("Server candidates");
  });
});
