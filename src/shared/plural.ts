/** `1 peer`, `3 peers`: a count with its noun, for every front end's sentences. */
export function countOf(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** "3 peers", or "0 peers + 1 web seed" while web seeds (BEP 19) are in use. */
export function sourcesText(peers: number, webSeeds: number): string {
  return webSeeds > 0
    ? `${countOf(peers, 'peer')} + ${countOf(webSeeds, 'web seed')}`
    : countOf(peers, 'peer');
}
