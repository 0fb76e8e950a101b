/**
 * Words for an ICE failure: which candidates each end offered, and what to do when the server's
 * are all loopback. The server logs the same diagnosis (src/openreactor/transport/ice_diagnosis.py).
 */

export interface CandidateInfo {
  kind: string;
  address: string;
  port: string;
  protocol: string;
}

/** `[a=]candidate:<foundation> <component> <protocol> <priority> <address> <port> typ <type> ...` */
export function parseCandidate(line: string): CandidateInfo | undefined {
  let text = line.trim();
  if (text.startsWith("a=")) text = text.slice(2);
  if (!text.startsWith("candidate:")) return undefined;
  const parts = text.slice("candidate:".length).split(/\s+/);
  if (parts.length < 8 || parts[6] !== "typ") return undefined;
  return { kind: parts[7]!, address: parts[4]!, port: parts[5]!, protocol: parts[2]!.toLowerCase() };
}

/** The candidates of an SDP blob, without the repeats of bundled m-sections. */
export function candidatesOfSdp(sdp: string): CandidateInfo[] {
  const out: CandidateInfo[] = [];
  for (const line of sdp.split(/\r?\n/)) {
    const c = parseCandidate(line);
    if (c && !out.some((o) => o.address === c.address && o.port === c.port && o.protocol === c.protocol)) out.push(c);
  }
  return out;
}

export function isLoopbackAddress(address: string): boolean {
  const a = address.replace(/^\[|\]$/g, "").toLowerCase();
  return a === "localhost" || a === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a);
}

export function describeCandidates(candidates: readonly CandidateInfo[]): string {
  return candidates.length === 0 ? "none" : candidates.map((c) => `${c.address.includes(":") ? `[${c.address}]` : c.address}:${c.port} ${c.kind}${c.protocol === "udp" ? "" : `/${c.protocol}`}`).join(", ");
}

export const LOOPBACK_HINT =
  "The server offers only loopback addresses, which browsers do not use (Chromium: unless started with " +
  "--allow-loopback-in-peer-connection) and which only a browser on the server's machine could reach: start " +
  "the server without --ice-host (ICE then uses its network interfaces) or with --ice-host <a LAN address of " +
  "the server>.";

export const NO_LOCAL_CANDIDATE_HINT =
  "This browser offered no candidate: it has no network interface it may use for WebRTC (browsers skip " +
  "loopback; Chromium uses it only when started with --allow-loopback-in-peer-connection).";

/** `ICE <state>. Local candidates: …. Server candidates: …. <hints>` for a TRANSPORT_ERROR. */
export function explainIce(what: string, local: readonly CandidateInfo[], remote: readonly CandidateInfo[] | undefined): string {
  const parts = [what, `Local candidates: ${describeCandidates(local)}.`];
  if (remote !== undefined) parts.push(`Server candidates: ${describeCandidates(remote)}.`);
  if (local.length === 0) parts.push(NO_LOCAL_CANDIDATE_HINT);
  if (remote !== undefined && remote.length > 0 && remote.every((c) => isLoopbackAddress(c.address))) parts.push(LOOPBACK_HINT);
  return parts.join(" ");
}
