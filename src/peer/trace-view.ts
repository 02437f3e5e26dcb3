/**
 * The wire trace as plain data (`--trace`): what peer/trace.ts records and the peer page shows. No imports,
 * so the page's code can use these types as they are.
 */

export type TraceDir = 'in' | 'out';

export type TraceKind =
  | 'handshake'
  | 'extended-handshake'
  | 'bitfield'
  | 'have-all'
  | 'have-none'
  | 'have'
  | 'interested'
  | 'not-interested'
  | 'choke'
  | 'unchoke'
  | 'request'
  | 'piece'
  | 'cancel'
  | 'reject'
  | 'suggest'
  | 'allowed-fast'
  | 'keep-alive'
  | 'port'
  | 'ut_metadata'
  | 'ut_pex'
  | 'extended';

/** A field's value: plain JSON, so it crosses to the page as it is. */
export type TraceValue = string | number | boolean | null | readonly TraceValue[] | TraceFields;
export interface TraceFields {
  readonly [key: string]: TraceValue;
}

export interface TraceEntry {
  /** Position in the connection's trace, from 0; gaps never occur, the oldest are dropped. */
  readonly seq: number;
  /** When it was sent or received, ms since the epoch. */
  readonly at: number;
  readonly dir: TraceDir;
  readonly kind: TraceKind;
  /** One line for the sequence diagram, e.g. `REQUEST 3:0+16384`. */
  readonly summary: string;
  readonly fields: TraceFields;
  /** The message's first bytes on the wire (at most TRACE_BYTES, as hex) and its whole length. */
  readonly bytes: { readonly hex: string; readonly length: number };
}

/** One traced connection as the page lists it. */
export interface TracedConnectionView {
  readonly id: number;
  readonly address: string;
  readonly client: string;
  /** The torrent, once the handshake named it. */
  readonly infoHash: string | null;
  readonly outgoing: boolean;
  readonly closed: boolean;
  readonly total: number;
  readonly dropped: number;
}
