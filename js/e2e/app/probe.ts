/** Decode the PROBE.md code band from a <video> through a canvas. */

export interface ProbeCode {
  counter: number;
  value: number;
}

let canvas: HTMLCanvasElement | undefined;

export function decodeProbe(video: HTMLVideoElement): ProbeCode | null {
  const w = video.videoWidth;
  const h = video.videoHeight;
  if (w < 608 || h < 16) return null;
  canvas ??= document.createElement("canvas");
  canvas.width = w;
  canvas.height = 16;
  const ctx = canvas.getContext("2d", { willReadFrequently: true })!;
  ctx.drawImage(video, 0, 0, w, 16, 0, 0, w, 16);
  const pixels = ctx.getImageData(0, 0, w, 16).data;
  const mean = (k: number): number => {
    let sum = 0;
    for (let y = 4; y < 12; y++) {
      for (let x = 16 * k + 4; x < 16 * k + 12; x++) {
        const i = (y * w + x) * 4;
        sum += pixels[i]! + pixels[i + 1]! + pixels[i + 2]!;
      }
    }
    return sum / (64 * 3);
  };
  const white = mean(0);
  const black = mean(1);
  if (white - black < 64) return null;
  const t = (white + black) / 2;
  const bits = (from: number, count: number): number => {
    let v = 0;
    for (let k = from; k < from + count; k++) v = (v << 1) | (mean(k) > t ? 1 : 0);
    return v;
  };
  const c = bits(2, 16);
  const v = bits(18, 16);
  const k4 = bits(34, 4);
  const check = (c ^ (c >> 4) ^ (c >> 8) ^ (c >> 12) ^ v ^ (v >> 4) ^ (v >> 8) ^ (v >> 12)) & 0xf;
  return k4 === check ? { counter: c, value: v } : null;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Sample decoded frames for `ms`; returns the decodable ones. */
export async function sampleProbe(video: HTMLVideoElement, ms: number): Promise<ProbeCode[]> {
  const out: ProbeCode[] = [];
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const code = decodeProbe(video);
    if (code && (out.length === 0 || out[out.length - 1]!.counter !== code.counter)) out.push(code);
    await sleep(20);
  }
  return out;
}

/** Wait until a decoded frame satisfies `pred`; returns it, or throws after `timeoutMs`. */
export async function waitProbe(video: HTMLVideoElement, pred: (c: ProbeCode) => boolean, timeoutMs: number, what: string): Promise<ProbeCode> {
  const end = performance.now() + timeoutMs;
  let last: ProbeCode | null = null;
  while (performance.now() < end) {
    const code = decodeProbe(video);
    if (code) {
      last = code;
      if (pred(code)) return code;
    }
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}; last decoded frame: ${JSON.stringify(last)} (video ${video.videoWidth}x${video.videoHeight})`);
}

/** Mean colour of a region of the video (for the webcam model's tint check). */
export function regionStats(video: HTMLVideoElement, x0: number, y0: number, x1: number, y1: number): { r: number; g: number; b: number; rgSpread: number } {
  const w = video.videoWidth;
  const h = video.videoHeight;
  const c = document.createElement("canvas");
  c.width = w;
  c.height = h;
  const ctx = c.getContext("2d", { willReadFrequently: true })!;
  ctx.drawImage(video, 0, 0);
  const data = ctx.getImageData(0, 0, w, h).data;
  let r = 0, g = 0, b = 0, spread = 0, n = 0;
  for (let y = Math.floor(y0 * h); y < Math.floor(y1 * h); y += 2) {
    for (let x = Math.floor(x0 * w); x < Math.floor(x1 * w); x += 2) {
      const i = (y * w + x) * 4;
      r += data[i]!;
      g += data[i + 1]!;
      b += data[i + 2]!;
      spread += Math.abs(data[i]! - data[i + 1]!);
      n++;
    }
  }
  return { r: r / n, g: g / n, b: b / n, rgSpread: spread / n };
}
