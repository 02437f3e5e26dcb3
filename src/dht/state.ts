/**
 * The routing table kept across restarts (BEP 5 suggests it): our node id and the nodes we knew, as a
 * small bencoded dictionary `{id: 20 bytes, nodes: compact node info}`. Pure; the file is written by the
 * caller (temp file, fsync, rename).
 */
import { decode, dictGet, encode, isDict } from '../codec/index.js';
import { ChunkswarmError } from '../shared/errors.js';
import {
  COMPACT_NODE_LENGTH,
  decodeCompactNodes,
  encodeCompactNodes,
  ID_LENGTH,
  type NodeContact,
} from './krpc.js';

export interface DhtState {
  readonly id: Buffer;
  readonly nodes: readonly NodeContact[];
}

/** A full table is at most 160 buckets of 8; more in a file means it is not ours. */
const MAX_SAVED_NODES = 160 * 8;

export function encodeDhtState(state: DhtState): Buffer {
  return encode({ id: state.id, nodes: encodeCompactNodes(state.nodes.slice(0, MAX_SAVED_NODES)) });
}

export function decodeDhtState(bytes: Buffer): DhtState {
  const bad = (why: string): never => {
    throw new ChunkswarmError('EDHT_STATE', `saved DHT routing table: ${why}`);
  };
  let root: ReturnType<typeof decode>;
  try {
    root = decode(bytes, { maxBytes: 64 + MAX_SAVED_NODES * COMPACT_NODE_LENGTH, maxDepth: 2, maxTokens: 8 });
  } catch (err) {
    return bad(`not valid bencode (${(err as Error).message})`);
  }
  if (!isDict(root)) return bad('not a dictionary');
  const id = dictGet(root, 'id');
  const nodes = dictGet(root, 'nodes');
  if (!Buffer.isBuffer(id) || id.length !== ID_LENGTH) return bad('no 20-byte id');
  if (!Buffer.isBuffer(nodes) || nodes.length % COMPACT_NODE_LENGTH !== 0) return bad('no compact node list');
  return { id: Buffer.from(id), nodes: decodeCompactNodes(nodes) };
}
