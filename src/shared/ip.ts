/**
 * IP literals to bytes and back, for compact peer lists (BEP 23 for IPv4, BEP 7 for IPv6; the DHT's
 * BEP 5 and ut_pex's BEP 11 use the same forms) and for checking the addresses a tracker stores. Only literals: BEP 3 lets the `ip` parameter carry a DNS
 * name, but a tracker that resolves names on the announce path does I/O for strangers.
 */

/**
 * An address in compact form (BEP 23, BEP 11): its 4 or 16 bytes, then the port big-endian; undefined when
 * `host` is not an IP literal.
 */
export function compactAddress(host: string, port: number): Buffer | undefined {
  const addr = parseIp(host);
  if (addr === undefined) return undefined;
  const out = Buffer.allocUnsafe(addr.length + 2);
  addr.copy(out);
  out.writeUInt16BE(port, addr.length);
  return out;
}

/** 4 bytes for an IPv4 literal, 16 for an IPv6 one, undefined for anything else. */
export function parseIp(text: string): Buffer | undefined {
  if (text.includes(':')) return parseIpv6(text);
  const v4 = parseIpv4(text);
  return v4 ? Buffer.from(v4) : undefined;
}

/** The usual text of a 4- or 16-byte address; an IPv4-mapped IPv6 address comes out as plain IPv4. */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length !== 16) throw new RangeError(`an IP address has 4 or 16 bytes, not ${bytes.length}`);
  if (isV4Mapped(bytes)) return `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  // RFC 5952: compress the longest run of two or more zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(':');
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}

/**
 * The canonical text of an address as a socket reports it: a dual-stack socket reports IPv4
 * clients as `::ffff:a.b.c.d`, and they must land in the IPv4 `peers` list, not in `peers6`.
 * Undefined when `text` is not an IP literal.
 */
export function normalizeIp(text: string): string | undefined {
  // The common cases, without building bytes: a plain dotted quad, or one behind the mapped prefix.
  if (!text.includes(':')) return parseIpv4(text) ? text : undefined;
  if (text.startsWith('::ffff:') && text.includes('.')) {
    const v4 = text.slice(7);
    return parseIpv4(v4) ? v4 : undefined;
  }
  const bytes = parseIpv6(text);
  return bytes ? formatIp(bytes) : undefined;
}

function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/** Strict dotted quad: four decimal parts 0..255 without leading zeros (so `010` is never octal). */
function parseIpv4(text: string): number[] | undefined {
  const out: number[] = [];
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (digits === 0 || out.length === 4) return undefined;
      out.push(value);
      value = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      if (digits > 0 && value === 0) return undefined;
      value = value * 10 + (c - 0x30);
      digits++;
      if (value > 255) return undefined;
    } else {
      return undefined;
    }
  }
  return out.length === 4 ? out : undefined;
}

function parseIpv6(text: string): Buffer | undefined {
  if (text.length > 45) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = parseGroups(halves[0]!, halves.length === 1);
  const tail = halves.length === 2 ? parseGroups(halves[1]!, true) : [];
  if (!head || !tail) return undefined;
  const total = head.length + tail.length;
  if (halves.length === 1 ? total !== 8 : total > 7) return undefined;
  const groups = [...head, ...new Array<number>(8 - total).fill(0), ...tail];
  const out = Buffer.alloc(16);
  for (let i = 0; i < 8; i++) out.writeUInt16BE(groups[i]!, i * 2);
  return out;
}

/** Colon-separated hex groups; the last may be a dotted quad when `lastMayBeV4` (it counts as two). */
function parseGroups(part: string, lastMayBeV4: boolean): number[] | undefined {
  if (part === '') return [];
  const pieces = part.split(':');
  const out: number[] = [];
  for (let i = 0; i < pieces.length; i++) {
    const p = pieces[i]!;
    if (lastMayBeV4 && i === pieces.length - 1 && p.includes('.')) {
      const v4 = parseIpv4(p);
      if (!v4) return undefined;
      out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      continue;
    }
    if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return undefined;
    out.push(Number.parseInt(p, 16));
  }
  return out;
}
