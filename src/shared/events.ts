import { EventEmitter } from 'node:events';

/**
 * A typed event emitter: `TypedEmitter<{ 'piece-verified': [index: number] }>` lets `on` and `emit`
 * check their arguments. One of these per session is the single stream the shell, progress bars
 * and dashboards consume.
 */
// biome-ignore lint/suspicious/noExplicitAny: event maps are checked per key below
export type EventMap = Record<string, any[]>;

export class TypedEmitter<E extends EventMap> {
  readonly #inner = new EventEmitter();

  constructor() {
    this.#inner.setMaxListeners(100);
  }

  on<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): () => void {
    this.#inner.on(event, listener as (...args: unknown[]) => void);
    return () => this.#inner.off(event, listener as (...args: unknown[]) => void);
  }

  once<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): void {
    this.#inner.once(event, listener as (...args: unknown[]) => void);
  }

  off<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): void {
    this.#inner.off(event, listener as (...args: unknown[]) => void);
  }

  /** Whether anyone listens: an event sent per message (a HAVE) need not build its values for nobody. */
  listens<K extends keyof E & string>(event: K): boolean {
    return this.#inner.listenerCount(event) > 0;
  }

  emit<K extends keyof E & string>(event: K, ...args: E[K]): void {
    this.#inner.emit(event, ...args);
  }
}
