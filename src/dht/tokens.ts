/**
 * announce_peer tokens (BEP 5): a get_peers answer carries a token that only the asker's address can
 * use, for a while. It is an HMAC of the address and infohash under a secret that changes every five
 * minutes; a token made under the current or the previous secret is accepted, so one lives five to ten
 * minutes and nothing is stored per asker.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** BEP 5 suggests a secret changed every five minutes and tokens up to ten minutes old accepted. */
export const TOKEN_ROTATE_MS = 5 * 60_000;
const TOKEN_BYTES = 8;

export class TokenSecrets {
  readonly #random: (n: number) => Buffer;
  #current: Buffer;
  #previous: Buffer;

  constructor(random: (n: number) => Buffer) {
    this.#random = random;
    this.#current = random(20);
    this.#previous = random(20);
  }

  /** Called every TOKEN_ROTATE_MS: tokens under the previous secret stop working. */
  rotate(): void {
    this.#previous = this.#current;
    this.#current = this.#random(20);
  }

  token(host: string, infoHash: Buffer): Buffer {
    return mac(this.#current, host, infoHash);
  }

  valid(token: Buffer, host: string, infoHash: Buffer): boolean {
    if (token.length !== TOKEN_BYTES) return false;
    return (
      timingSafeEqual(token, mac(this.#current, host, infoHash)) ||
      timingSafeEqual(token, mac(this.#previous, host, infoHash))
    );
  }
}

function mac(secret: Buffer, host: string, infoHash: Buffer): Buffer {
  return createHmac('sha1', secret)
    .update(host)
    .update('\0')
    .update(infoHash)
    .digest()
    .subarray(0, TOKEN_BYTES);
}
