import type { ServerResponse } from 'node:http';
import { SECURITY_HEADERS, sendJson } from './http.js';

/** Open event streams per page server: enough for a few tabs, not a way to exhaust the process. */
export const MAX_STREAMS = 32;
const HEARTBEAT_MS = 15_000;

/**
 * Server-sent events to every open page. Each push carries the whole state, so a page that missed
 * one (a slow tab, a reconnect) is whole again with the next; EventSource reconnects by itself.
 */
export class SseHub {
  readonly #clients = new Set<ServerResponse>();
  readonly #heartbeat: NodeJS.Timeout;
  readonly #max: number;

  constructor(max = MAX_STREAMS) {
    this.#max = max;
    this.#heartbeat = setInterval(() => {
      // A comment line keeps proxies and the browser from timing the stream out.
      for (const c of this.#clients) c.write(': keep-alive\n\n');
    }, HEARTBEAT_MS);
    this.#heartbeat.unref();
  }

  get size(): number {
    return this.#clients.size;
  }

  /** Answers the request with a stream and sends `first` at once; refuses past the cap. */
  open(res: ServerResponse, event: string, first: unknown): void {
    if (this.#clients.size >= this.#max) {
      sendJson(res, 503, { error: `too many open dashboards (${this.#max}); close a tab and reload` });
      return;
    }
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
    });
    res.socket?.setNoDelay(true);
    this.#clients.add(res);
    res.on('close', () => this.#clients.delete(res));
    res.write(frame(event, first));
  }

  broadcast(event: string, data: unknown): void {
    if (this.#clients.size === 0) return;
    const text = frame(event, data);
    for (const c of this.#clients) c.write(text);
  }

  close(): void {
    clearInterval(this.#heartbeat);
    for (const c of this.#clients) c.end();
    this.#clients.clear();
  }
}

/** One event; JSON never holds a raw newline, so `data:` stays one line. */
export function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * Runs `fn` at most once per `ms`: the first call soon, later calls folded into one trailing run.
 * Session events come in bursts (a HAVE from every peer at once); pages need the state, not each event.
 */
export function coalesce(fn: () => void, ms: number): { (): void; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const call = (): void => {
    if (timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      fn();
    }, ms);
    timer.unref();
  };
  call.cancel = (): void => {
    clearTimeout(timer);
    timer = undefined;
  };
  return call;
}
