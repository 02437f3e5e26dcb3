/** Small numeric helpers for the figures. */

/** Median of the finite values; null when there are none. */
export function median(values: readonly (number | null | undefined)[]): number | null {
  const xs = values
    .filter((v): v is number => typeof v === 'number' && Number.isFinite(v))
    .sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const mid = xs.length >> 1;
  return xs.length % 2 === 1 ? (xs[mid] as number) : ((xs[mid - 1] as number) + (xs[mid] as number)) / 2;
}

export function max(values: readonly (number | null | undefined)[]): number | null {
  const xs = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  return xs.length === 0 ? null : Math.max(...xs);
}

/** a / b, or null when either is missing or b is zero. */
export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (typeof a !== 'number' || typeof b !== 'number' || !Number.isFinite(a) || !Number.isFinite(b) || b === 0)
    return null;
  return a / b;
}

/** Megabytes (10^6) per second. */
export function mbPerSecond(bytes: number, seconds: number | null | undefined): number | null {
  if (typeof seconds !== 'number' || !(seconds > 0)) return null;
  return bytes / 1e6 / seconds;
}

/** Rounds for JSON so the results file stays readable. */
export function round(v: number | null | undefined, digits = 3): number | null {
  if (typeof v !== 'number' || !Number.isFinite(v)) return null;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
