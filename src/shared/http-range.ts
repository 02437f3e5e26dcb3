/**
 * HTTP range requests for BEP 19 web seeds, on Node's own `fetch` (redirects followed, connections kept
 * alive between requests). The one place web seeds touch the network; sessions get it through `Env`.
 */
import type { RangeFetch } from './env.js';
import { describeError } from './errors.js';

/**
 * A server that ignores Range (Python's `http.server`, for one) answers 200 with the whole file: the bytes
 * before the range are read and dropped, up to this many. Fine for a class's files; past it, the web seed
 * would fetch a large file again for every piece, so it is refused instead.
 */
const MAX_SKIPPED = 64 * 1024 * 1024;

export const fetchRange: RangeFetch = async (url, start, length, signal) => {
  let res: Response;
  try {
    res = await fetch(url, {
      // identity: a compressed answer would hold other bytes than the range asked for.
      headers: { range: `bytes=${start}-${start + length - 1}`, 'accept-encoding': 'identity' },
      redirect: 'follow',
      signal,
    });
  } catch (err) {
    // fetch says only "fetch failed"; why is in its cause (refused, reset, no such host, a blocked port).
    const cause = (err as Error).cause;
    if (signal.aborted || cause === undefined) throw err;
    throw new Error(`cannot reach ${new URL(url).host}: ${describeError(cause)}`);
  }
  const whole = res.status === 200;
  if (res.status !== 206 && !(whole && start <= MAX_SKIPPED)) {
    await res.body?.cancel();
    throw new Error(
      whole
        ? `the server does not answer range requests, and the file is too large to read from its start for each chunk`
        : `HTTP ${res.status} ${res.statusText}`.trim(),
    );
  }
  const range = res.headers.get('content-range');
  if (!whole && range !== null && !range.startsWith(`bytes ${start}-`)) {
    await res.body?.cancel();
    throw new Error(`asked for bytes from ${start}, the server sent ${range}`);
  }
  return readExactly(res, whole ? start : 0, length);
};

/** `length` bytes of the response's body after the first `skip`; fewer is an error, more are not read. */
async function readExactly(res: Response, skip: number, length: number): Promise<Buffer> {
  const out = Buffer.allocUnsafe(length);
  let got = 0;
  let toSkip = skip;
  const reader = res.body?.getReader();
  if (reader === undefined) throw new Error('the server sent no body');
  try {
    while (got < length) {
      const { done, value } = await reader.read();
      if (done) break;
      const from = Math.min(toSkip, value.length);
      toSkip -= from;
      const n = Math.min(value.length - from, length - got);
      out.set(value.subarray(from, from + n), got);
      got += n;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  if (got < length) throw new Error(`the server sent ${got} of ${length} bytes`);
  return out;
}
