/** Strict option checking: an unknown key throws `TypeError` naming the closest valid key. */

function distance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  const row = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= y.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (x[i - 1] === y[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[y.length]!;
}

export function closestKey(key: string, valid: readonly string[]): string {
  let best = valid[0] ?? "";
  let bestDistance = Infinity;
  for (const candidate of valid) {
    const d = distance(key, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

export function checkOptions(what: string, options: object, valid: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (!valid.includes(key)) {
      throw new TypeError(
        `${what}: unknown option '${key}' (did you mean '${closestKey(key, valid)}'? valid options: ${valid.join(", ")})`,
      );
    }
  }
}
