import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ErrorReply } from '../src/web/types.js';

/**
 * What both pages share: the request token dance, the live state stream, number formatting and a
 * canvas grid for chunk maps. Everything from the network is rendered as text by Preact (never
 * through innerHTML), so a torrent name or a client string cannot become markup.
 */

let token = document.querySelector<HTMLMetaElement>('meta[name="cs-token"]')?.content ?? '';

/** A POST to the page's own server with the request token; one retry with the fresh token on a 403. */
export async function post<T>(path: string, body: BodyInit, contentType: string): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(path, {
      method: 'POST',
      body,
      headers: { 'Content-Type': contentType, 'X-Chunkswarm-Token': token },
      credentials: 'same-origin',
    });
    const text = await res.text();
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = { error: text || `${res.status} ${res.statusText}` };
    }
    if (res.ok) return value as T;
    const err = value as ErrorReply;
    if (res.status === 403 && typeof err.token === 'string' && attempt === 0) {
      token = err.token;
      continue;
    }
    throw new Error(err.error ?? `${res.status} ${res.statusText}`);
  }
}

export const postJson = <T,>(path: string, value: unknown): Promise<T> =>
  post<T>(path, JSON.stringify(value), 'application/json');

/** The server's state, kept current by its event stream; EventSource reconnects by itself. */
export function useLiveState<T>(): { state: T | undefined; live: boolean } {
  const [state, setState] = useState<T | undefined>(undefined);
  const [live, setLive] = useState(false);
  useEffect(() => {
    const es = new EventSource('/events');
    es.addEventListener('state', (e) => {
      setState(JSON.parse((e as MessageEvent<string>).data) as T);
      setLive(true);
    });
    es.onerror = () => setLive(false);
    return () => es.close();
  }, []);
  return { state, live };
}

export function LiveBadge({ live }: { live: boolean }) {
  return (
    <span class={`live ${live ? 'on' : 'off'}`} data-testid="live">
      {live ? '● live' : '○ reconnecting…'}
    </span>
  );
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function fmtBytes(n: number): string {
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(v < 10 ? 2 : 1)} ${UNITS[u]}`;
}

export const fmtRate = (n: number): string => `${fmtBytes(Math.round(n))}/s`;

export function fmtPercent(x: number): string {
  // Never show 100% before the last chunk is verified.
  const p = Math.floor(x * 1000) / 10;
  return `${p.toFixed(1)}%`;
}

export function fmtAgo(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
}

/** A message line under a control: what happened, or what went wrong, in words. */
export function Note({ note }: { note: { text: string; error: boolean } | undefined }) {
  if (!note) return null;
  return (
    <p class={`note ${note.error ? 'error' : 'ok'}`} role="status" data-testid="note">
      {note.text}
    </p>
  );
}

export function useNote(): [
  { text: string; error: boolean } | undefined,
  (text: string, error?: boolean) => void,
] {
  const [note, setNote] = useState<{ text: string; error: boolean } | undefined>(undefined);
  return [note, (text, error = false) => setNote({ text, error })];
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A grid of square cells on a canvas, one per chunk (or run of chunks): thousands of cells cost one
 * draw, not thousands of elements. Hovering names the cell under the pointer.
 */
export function ChunkGrid(props: {
  count: number;
  color: (i: number) => string;
  describe: (i: number) => string;
  label: string;
  testid: string;
  /** Changes whenever the colours do, so the grid redraws only then. */
  version: string;
}) {
  const ref = useRef<HTMLCanvasElement>(null);
  const [hover, setHover] = useState<string>('');
  const [width, setWidth] = useState(0);
  const cell = props.count <= 64 ? 16 : props.count <= 512 ? 10 : props.count <= 2048 ? 6 : 4;
  const gap = cell >= 10 ? 2 : 1;
  const cols = Math.max(1, Math.floor((width + gap) / (cell + gap)));
  const rows = Math.ceil(props.count / cols);

  useEffect(() => {
    const el = ref.current?.parentElement;
    if (!el) return;
    const measure = () => setWidth(el.clientWidth);
    measure();
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  useEffect(() => {
    const canvas = ref.current;
    if (!canvas || width === 0) return;
    const dpr = window.devicePixelRatio || 1;
    const w = cols * (cell + gap) - gap;
    const h = Math.max(1, rows * (cell + gap) - gap);
    canvas.width = Math.ceil(w * dpr);
    canvas.height = Math.ceil(h * dpr);
    canvas.style.width = `${w}px`;
    canvas.style.height = `${h}px`;
    const ctx = canvas.getContext('2d');
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    for (let i = 0; i < props.count; i++) {
      ctx.fillStyle = props.color(i);
      ctx.fillRect((i % cols) * (cell + gap), Math.floor(i / cols) * (cell + gap), cell, cell);
    }
  }, [props.version, width, cols, rows, cell, gap, props.count]);

  const onMove = (e: MouseEvent) => {
    const r = (e.currentTarget as HTMLCanvasElement).getBoundingClientRect();
    const col = Math.floor((e.clientX - r.left) / (cell + gap));
    const row = Math.floor((e.clientY - r.top) / (cell + gap));
    const i = row * cols + col;
    setHover(col < cols && i >= 0 && i < props.count ? props.describe(i) : '');
  };

  return (
    <div class="grid" data-testid={props.testid}>
      <canvas
        ref={ref}
        role="img"
        aria-label={props.label}
        onMouseMove={onMove}
        onMouseLeave={() => setHover('')}
      />
      <div class="grid-hover">{hover || '\u00a0'}</div>
    </div>
  );
}

export function Stat(props: { label: string; value: ComponentChildren; testid?: string }) {
  return (
    <div class="stat">
      <div class="stat-value" data-testid={props.testid}>
        {props.value}
      </div>
      <div class="stat-label">{props.label}</div>
    </div>
  );
}
