/** `1 peer`, `3 peers`: a count with its noun, for every front end's sentences. */
export function countOf(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
