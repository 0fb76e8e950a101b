// Shared by the e2e scripts (run.mjs, cloud_auth.mjs).

// PROBE.md decoding for pages that do not carry the test app's helpers (the playground).
export const decodeInPage = (selector) => {
  const v = document.querySelector(selector);
  if (!v || v.videoWidth < 608) return null;
  const c = document.createElement("canvas");
  c.width = v.videoWidth;
  c.height = 16;
  const ctx = c.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(v, 0, 0, v.videoWidth, 16, 0, 0, v.videoWidth, 16);
  const d = ctx.getImageData(0, 0, v.videoWidth, 16).data;
  const mean = (k) => {
    let s = 0;
    for (let y = 4; y < 12; y++) for (let x = 16 * k + 4; x < 16 * k + 12; x++) { const i = (y * v.videoWidth + x) * 4; s += d[i] + d[i + 1] + d[i + 2]; }
    return s / 192;
  };
  const white = mean(0), black = mean(1);
  if (white - black < 64) return null;
  const t = (white + black) / 2;
  const bits = (from, n) => { let x = 0; for (let k = from; k < from + n; k++) x = (x << 1) | (mean(k) > t ? 1 : 0); return x; };
  const cnt = bits(2, 16), val = bits(18, 16), k4 = bits(34, 4);
  return k4 === ((cnt ^ (cnt >> 4) ^ (cnt >> 8) ^ (cnt >> 12) ^ val ^ (val >> 4) ^ (val >> 8) ^ (val >> 12)) & 15) ? { counter: cnt, value: val } : null;
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Distinct probe counters decoded from the page's `.video video` element over `ms` milliseconds. */
export async function sampleCounters(page, ms) {
  const counters = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const code = await page.evaluate(decodeInPage, ".video video");
    if (code && counters.at(-1) !== code.counter) counters.push(code.counter);
    await sleep(40);
  }
  return counters;
}
