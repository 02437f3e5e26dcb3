import { ChunkswarmError } from '../shared/errors.js';

/** The seed's commands, with the arguments each takes (for parsing, /help and tab completion). */
export const COMMANDS = {
  '/connect_tracker': { args: '', help: 'announce to the tracker (event=started) and fetch the peer set' },
  '/get_peer_set': { args: '', help: 'ask the tracker for the current peer set' },
  '/see_peer_set': { args: '', help: 'print the peer set: address, peer id, chunks held, transfer totals' },
  '/update_status_to_tracker': {
    args: '',
    help: 'send our chunks and totals to the tracker, then fetch the peer set',
  },
  '/disconnect_tracker': { args: '', help: 'stop announcing (peers keep working)' },
  '/quit_torrent': { args: '', help: 'announce stopped, close every peer and exit' },
  '/check_tracker_connected': { args: '', help: 'say whether we are connected to the tracker' },
  '/connect_peer': { args: 'T', help: 'BitTorrent handshake with peer T' },
  '/check_target_peer_connected': { args: 'T', help: 'say whether we are connected to peer T' },
  '/request_download': { args: 'T C', help: 'download chunk C (or all/missing) from peer T, SHA-1 verified' },
  '/upload_chunk': { args: 'T C', help: 'offer chunk C to peer T and wait until it holds it' },
  '/disconnect_peer': { args: 'T', help: 'close the connection to peer T' },
  '/see_connected_seeders': { args: '', help: 'connected peers that hold every chunk' },
  '/see_connected_leechers': { args: '', help: 'connected peers still missing chunks' },
  '/see_current_chunks': { args: '', help: 'chunks held (index and chunk file) and how many are missing' },
  '/merge_chunks': { args: '[out]', help: 'join every chunk into the torrent file(s) under out, verified' },
  '/auto_download': { args: '', help: 'let the automatic engine fetch the rest from every peer' },
  '/select': {
    args: '[F]',
    help: 'list the files (index, size, selected, progress); with F choose them (0,2-4 or all)',
  },
  '/status': { args: '', help: 'one-screen status: chunks, peers, rates, tracker' },
  '/help': { args: '', help: 'this list' },
} as const;

export type CommandName = keyof typeof COMMANDS;

export interface ParsedCommand {
  readonly name: CommandName;
  readonly args: readonly string[];
}

export const INVALID = 'Invalid command — type /help';

/** Splits a line into a known command and its arguments; throws EUSAGE with the seed's one-line reply. */
export function parseCommand(line: string): ParsedCommand {
  const words = line.trim().split(/\s+/).filter(Boolean);
  const name = words[0] ?? '';
  if (!Object.hasOwn(COMMANDS, name)) throw new ChunkswarmError('EUSAGE', INVALID);
  const spec = COMMANDS[name as CommandName].args;
  const args = words.slice(1);
  const required = spec.split(' ').filter((a) => a && !a.startsWith('[')).length;
  const allowed = spec.split(' ').filter(Boolean).length;
  if (args.length < required || args.length > allowed) {
    throw new ChunkswarmError('EUSAGE', `${INVALID} (usage: ${name} ${spec})`);
  }
  return { name: name as CommandName, args };
}

export interface PeerSetEntry {
  readonly ip: string;
  readonly port: number;
}

/**
 * A peer target, as DESIGN.md writes it: `ip:port`, a bare `ip` when exactly one known peer has it, or
 * the peer's index in `/see_peer_set`. Returns host and port.
 */
export function resolveTarget(word: string, known: readonly PeerSetEntry[]): { ip: string; port: number } {
  if (/^\d+$/.test(word) && !word.includes('.')) {
    const entry = known[Number(word)];
    if (!entry) throw new ChunkswarmError('EUSAGE', `${INVALID} (no peer #${word} in the peer set)`);
    return { ip: entry.ip, port: entry.port };
  }
  const bracketed = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(word);
  const plain = /^([0-9.]+|localhost):(\d{1,5})$/.exec(word);
  const m = bracketed ?? plain;
  if (m) {
    const port = Number(m[2]);
    if (port < 1 || port > 65535) throw new ChunkswarmError('EUSAGE', `${INVALID} (bad port in ${word})`);
    return { ip: m[1] === 'localhost' ? '127.0.0.1' : m[1]!, port };
  }
  const ip = word === 'localhost' ? '127.0.0.1' : word;
  if (/^[0-9.]+$/.test(ip) || ip.includes(':')) {
    const matches = known.filter((p) => p.ip === ip);
    if (matches.length === 1) return { ip, port: matches[0]!.port };
    throw new ChunkswarmError(
      'EUSAGE',
      matches.length === 0
        ? `${INVALID} (no known peer at ${ip}; write ip:port)`
        : `${INVALID} (${matches.length} peers at ${ip}; write ip:port)`,
    );
  }
  throw new ChunkswarmError(
    'EUSAGE',
    `${INVALID} (peer should be ip:port, ip or an index from /see_peer_set)`,
  );
}

/** A chunk argument: an index, a chunk file name `<name>.part<i>`, or `all` / `missing`. */
export function resolveChunks(
  word: string,
  name: string,
  pieceCount: number,
  missing: () => number[],
): number[] {
  if (word === 'all' || word === 'missing') return missing();
  let text = word;
  const prefix = `${name}.part`;
  if (text.startsWith(prefix)) text = text.slice(prefix.length);
  if (!/^\d+$/.test(text))
    throw new ChunkswarmError('EUSAGE', `${INVALID} (chunk should be an index, ${prefix}N, all or missing)`);
  const index = Number(text);
  if (index >= pieceCount) {
    throw new ChunkswarmError(
      'EUSAGE',
      `${INVALID} (chunk ${index} is out of range: this torrent has chunks 0-${pieceCount - 1})`,
    );
  }
  return [index];
}
