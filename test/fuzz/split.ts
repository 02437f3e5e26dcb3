/** `bytes` cut at the given offsets (taken modulo its length + 1, sorted, deduplicated), empty pieces dropped. */
export function split<T extends Uint8Array>(bytes: T, cuts: number[]): T[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: T[] = [];
  let from = 0;
  for (const c of at) {
    if (c > from) out.push(bytes.subarray(from, c) as T);
    from = Math.max(from, c);
  }
  out.push(bytes.subarray(from) as T);
  return out.filter((c) => c.length > 0);
}
