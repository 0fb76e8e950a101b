/** `ConnectionStats` from `RTCPeerConnection.getStats()`; bitrates come from byte deltas. */

export interface ConnectionStats {
  rtt?: number;
  candidateType?: string;
  availableIncomingBitrate?: number;
  availableOutgoingBitrate?: number;
  incomingBitrate?: number;
  outgoingBitrate?: number;
  framesPerSecond?: number;
  packetLossRatio?: number;
  jitter?: number;
  connectionTimings?: { sessionCreationMs: number; transportConnectingMs: number; totalMs: number };
  timestamp: number;
}

interface Totals {
  at: number;
  bytesIn: number;
  bytesOut: number;
}

/** Turns successive `getStats()` reports into `ConnectionStats` (keeps the previous byte totals). */
export class StatsSampler {
  private previous: Totals | undefined;

  sample(report: RTCStatsReport, timings?: ConnectionStats["connectionTimings"]): ConnectionStats {
    const stats: ConnectionStats = { timestamp: Date.now() };
    let bytesIn = 0;
    let bytesOut = 0;
    let received = 0;
    let lost = 0;
    const byId = new Map<string, Record<string, unknown>>();
    report.forEach((entry: Record<string, unknown>) => byId.set(String(entry["id"]), entry));
    for (const entry of byId.values()) {
      const type = entry["type"];
      if (type === "inbound-rtp") {
        bytesIn += Number(entry["bytesReceived"] ?? 0);
        received += Number(entry["packetsReceived"] ?? 0);
        lost += Number(entry["packetsLost"] ?? 0);
        if (entry["kind"] === "video") {
          if (typeof entry["framesPerSecond"] === "number") stats.framesPerSecond = entry["framesPerSecond"];
          if (typeof entry["jitter"] === "number") stats.jitter = entry["jitter"];
        }
      } else if (type === "outbound-rtp") {
        bytesOut += Number(entry["bytesSent"] ?? 0);
      } else if (type === "candidate-pair" && (entry["nominated"] === true || entry["selected"] === true) && entry["state"] === "succeeded") {
        if (typeof entry["currentRoundTripTime"] === "number") stats.rtt = entry["currentRoundTripTime"] * 1000;
        if (typeof entry["availableIncomingBitrate"] === "number") stats.availableIncomingBitrate = entry["availableIncomingBitrate"];
        if (typeof entry["availableOutgoingBitrate"] === "number") stats.availableOutgoingBitrate = entry["availableOutgoingBitrate"];
        const local = byId.get(String(entry["localCandidateId"]));
        if (local && typeof local["candidateType"] === "string") stats.candidateType = local["candidateType"];
      }
    }
    if (received + lost > 0) stats.packetLossRatio = lost / (received + lost);
    const now = performance.now();
    if (this.previous !== undefined) {
      const seconds = (now - this.previous.at) / 1000;
      if (seconds > 0) {
        stats.incomingBitrate = Math.max(0, ((bytesIn - this.previous.bytesIn) * 8) / seconds);
        stats.outgoingBitrate = Math.max(0, ((bytesOut - this.previous.bytesOut) * 8) / seconds);
      }
    }
    this.previous = { at: now, bytesIn, bytesOut };
    if (timings) stats.connectionTimings = timings;
    return stats;
  }
}
