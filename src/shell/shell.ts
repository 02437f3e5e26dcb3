import { parseSelect } from '../metainfo/index.js';
import { FileSelection } from '../session/selection.js';
import type { TorrentSession } from '../session/session.js';
import { torrentStatus, trackerWords } from '../session/status.js';
import { ChunkswarmError, describeError } from '../shared/errors.js';
import { countOf } from '../shared/plural.js';
import { formatAddress } from '../shared/types.js';
import type { TrackerPeer } from '../tracker/index.js';
import {
  COMMANDS,
  INVALID,
  type ParsedCommand,
  parseCommand,
  resolveChunks,
  resolveTarget,
} from './parse.js';

/** Where replies go: plain lines, or lines with a kind the terminal colours. */
export interface ShellOutput {
  line(text: string, kind?: 'ok' | 'error' | 'info'): void;
}

export interface ShellContext {
  readonly session: TorrentSession;
  /** `ip:port` this peer listens on. */
  readonly me: string;
  /** Merge chunks into `<out>/<name>`; undefined when this shell seeds from --data (nothing to merge). */
  readonly merge: ((outDir: string, files?: ReadonlySet<number>) => Promise<string>) | undefined;
  /** Chunk file names, when the shell keeps a memory folder. */
  readonly chunkFileName: (index: number) => string;
  readonly out: ShellOutput;
  /** Ran by /quit_torrent once the tracker has been told. */
  readonly quit: () => Promise<void>;
}

/**
 * The seed's slash commands over a live session. Each command finishes (or fails with one line)
 * before `run` resolves, so piped input runs in order.
 */
export class Shell {
  readonly #c: ShellContext;
  quitting = false;

  constructor(ctx: ShellContext) {
    this.#c = ctx;
  }

  async run(line: string): Promise<void> {
    if (line.trim() === '') return;
    const { out } = this.#c;
    let cmd: ParsedCommand;
    try {
      cmd = parseCommand(line);
    } catch (err) {
      out.line(describeError(err), 'error');
      return;
    }
    try {
      await this.#dispatch(cmd);
    } catch (err) {
      out.line(describeError(err), 'error');
    }
  }

  /** Words for tab completion: commands, then peer addresses and chunk names. */
  completions(): string[] {
    const s = this.#c.session;
    const peers = [
      ...this.#known().map((p) => formatAddress(p.ip, p.port)),
      ...torrentStatus(s).peers.map((p) => p.address),
    ];
    const chunks = Array.from({ length: s.pieceCount }, (_, i) => this.#c.chunkFileName(i));
    return [...Object.keys(COMMANDS), ...new Set(peers), ...chunks, 'all', 'missing'];
  }

  async #dispatch({ name, args }: ParsedCommand): Promise<void> {
    const { session: s, out, me } = this.#c;
    switch (name) {
      case '/help':
        for (const [cmd, spec] of Object.entries(COMMANDS))
          out.line(`${`${cmd} ${spec.args}`.padEnd(34)} ${spec.help}`);
        out.line(
          'T: ip:port, a bare ip, or an index from /see_peer_set. C: a chunk index, a chunk file name, all or missing.',
        );
        out.line('F: file indices and ranges from /select, like 0,2-4, or all.');
        return;
      case '/check_tracker_connected':
        out.line(
          s.trackerConnected ? 'Peer is connected to tracker' : 'Peer is not connected to tracker',
          s.trackerConnected ? 'ok' : 'info',
        );
        return;
      case '/connect_tracker': {
        const r = await s.connectTracker({ status: true });
        out.line(`Tracker established connection to Peer[${me}]`, 'ok');
        if (r.warning) out.line(`tracker warning: ${r.warning}`, 'info');
        this.#printPeerSet();
        return;
      }
      case '/get_peer_set': {
        this.#requireTracker();
        await s.announce(undefined, { status: true });
        out.line(`Peer set updated: ${countOf(this.#known().length, 'other peer')}`, 'ok');
        return;
      }
      case '/see_peer_set':
        this.#printPeerSet();
        return;
      case '/update_status_to_tracker':
        this.#requireTracker();
        await s.announce(undefined, { status: true });
        out.line(`Tracker updated Peer[${me}] status`, 'ok');
        this.#printPeerSet();
        return;
      case '/disconnect_tracker':
        this.#requireTracker();
        s.disconnectTracker();
        out.line(`Peer[${me}] disconnected from tracker`, 'ok');
        return;
      case '/quit_torrent':
        this.quitting = true;
        await s.announce('stopped').catch((err) => out.line(`tracker: ${describeError(err)}`, 'error'));
        s.disconnectTracker();
        out.line(`Peer[${me}] quited torrent`, 'ok');
        await this.#c.quit();
        return;
      case '/connect_peer': {
        const t = this.#target(args[0]!);
        const address = await s.connectPeer(t.ip, t.port);
        const st = torrentStatus(s).peers.find((p) => p.address === address);
        out.line(
          `Peer[${formatAddress(t.ip, t.port)}] established connection to Peer[${me}] (${st?.client ?? 'gone again'}, holds ${st?.have ?? 0}/${s.pieceCount} chunks)`,
          'ok',
        );
        return;
      }
      case '/check_target_peer_connected': {
        const t = this.#target(args[0]!);
        const address = s.connectedAddress(t.ip, t.port);
        out.line(
          `This peer is ${address ? '' : 'not '}connected to Peer[${formatAddress(t.ip, t.port)}]`,
          address ? 'ok' : 'info',
        );
        return;
      }
      case '/disconnect_peer': {
        const address = this.#connected(args[0]!);
        s.disconnectPeer(address, 'disconnected by the shell');
        out.line(`Peer[${me}] disconnected from Peer[${address}]`, 'ok');
        return;
      }
      case '/request_download':
        await this.#requestDownload(args[0]!, args[1]!);
        return;
      case '/upload_chunk': {
        const address = this.#connected(args[0]!);
        const chunks = resolveChunks(args[1]!, s.metainfo.name, s.pieceCount, () => s.have.missing());
        for (const c of chunks) {
          if (!s.have.has(c))
            throw new ChunkswarmError('EUSAGE', `This peer does not hold chunk ${c}: nothing to upload`);
        }
        for (const c of chunks) {
          out.line(`Peer[${me}] offers chunk ${c} to Peer[${address}]`);
          const taken = await s.offerPiece(address, c);
          out.line(
            taken
              ? `Peer[${address}] received chunk ${c}`
              : `Peer[${address}] did not take chunk ${c} within 30 s`,
            taken ? 'ok' : 'error',
          );
        }
        return;
      }
      case '/see_connected_seeders':
      case '/see_connected_leechers': {
        const seeders = name === '/see_connected_seeders';
        const list = torrentStatus(s).peers.filter((p) => p.seeder === seeders);
        out.line(countOf(list.length, `connected ${seeders ? 'seeder' : 'leecher'}`));
        for (const p of list) out.line(`  ${p.address}  ${p.client}  ${p.have}/${s.pieceCount} chunks`);
        return;
      }
      case '/see_current_chunks': {
        out.line(`Holding ${s.have.count} of ${s.pieceCount} chunks; ${s.pieceCount - s.have.count} missing`);
        for (const i of s.have.indexes()) out.line(`  ${String(i).padStart(5)}  ${this.#c.chunkFileName(i)}`);
        return;
      }
      case '/merge_chunks': {
        const missing = this.#wantedMissing();
        if (missing.length > 0) {
          out.line(`Not enough chunks to merge: missing ${formatList(missing)}`, 'error');
          return;
        }
        if (!this.#c.merge)
          throw new ChunkswarmError('EUSAGE', 'this shell serves --data directly: the file is already whole');
        const files = FileSelection.of(s).files;
        const all = files.size === s.metainfo.files.length;
        const path = await this.#c.merge(args[0] ?? '.', all ? undefined : files);
        out.line(
          `Merge complete! ${path} (${all ? '' : `${files.size} of ${s.metainfo.files.length} files, `}every chunk SHA-1 verified)`,
          'ok',
        );
        return;
      }
      case '/auto_download': {
        // With a /select, the chunks of the chosen files are the goal.
        const wanted = this.#wantedMissing().length;
        if (wanted === 0) {
          out.line(s.complete ? 'Every chunk is already held' : 'Every chunk of the selected files is held');
          return;
        }
        s.setMode('auto');
        if (s.trackerConnected) s.dialKnownPeers();
        out.line(
          `Automatic download started: ${countOf(wanted, 'chunk')} to fetch from ${countOf(s.peers.size, 'peer')}`,
        );
        await new Promise<void>((resolve) => {
          if (s.done) resolve();
          else s.events.once('done', () => resolve());
        });
        out.line(
          s.complete
            ? `complete ${s.metainfo.name}: all ${s.pieceCount} chunks verified`
            : `complete ${s.metainfo.name}: the chunks of the selected files are verified (${s.have.count} of ${s.pieceCount})`,
          'ok',
        );
        return;
      }
      case '/select':
        await this.#select(args[0]);
        return;
      case '/status': {
        const st = torrentStatus(s);
        const seeders = st.peers.filter((p) => p.seeder).length;
        out.line(`${st.name}  ${st.infoHash}`);
        out.line(
          `chunks ${st.have}/${st.pieceCount}  peers ${st.peers.length} (${seeders} seeders)  tracker ${trackerWords(st.tracker, s.clock.now())}`,
        );
        out.line(
          `down ${rate(st.downRate)} (${st.downloaded} B)  up ${rate(st.upRate)} (${st.uploaded} B)  listening on ${me}`,
        );
        const sources = new Map<string, number>();
        for (const p of st.peers) sources.set(p.source, (sources.get(p.source) ?? 0) + 1);
        if (sources.size > 0)
          out.line(`peers from: ${[...sources].map(([source, n]) => `${n} ${source}`).join(', ')}`);
        if (st.waitingFor) out.line(`waiting: ${st.waitingFor}`);
        if (st.seeding) out.line(`seeding: ${st.seeding}`);
        for (const n of st.notConnected.slice(0, 10)) out.line(`not connected to ${n.address}: ${n.why}`);
        return;
      }
    }
  }

  async #requestDownload(targetWord: string, chunkWord: string): Promise<void> {
    const { session: s, out, me } = this.#c;
    const address = this.#connected(targetWord);
    const theirs = s.piecesOf(address);
    const chunks = resolveChunks(chunkWord, s.metainfo.name, s.pieceCount, () =>
      this.#wantedMissing().filter((i) => theirs?.has(i)),
    );
    if (chunks.length === 0) {
      out.line(`Peer[${address}] has no chunk this peer is missing`);
      return;
    }
    for (const c of chunks) {
      if (s.have.has(c)) {
        out.line(`Chunk ${c} is already held`);
        continue;
      }
      if (!theirs?.has(c)) throw new ChunkswarmError('EPEER', `Peer[${address}] does not have chunk ${c}`);
      out.line(`Peer[${address}] starts uploading chunk ${c} to Peer[${me}]`);
      await s.fetchPiece(address, c);
      out.line(`Chunk ${c} received and verified (${this.#c.chunkFileName(c)})`, 'ok');
    }
  }

  /** Missing chunks of the selected files (every missing chunk without a /select). */
  #wantedMissing(): number[] {
    const s = this.#c.session;
    return s.have.missing().filter((i) => s.picker.priority(i) > 0);
  }

  async #select(spec: string | undefined): Promise<void> {
    const { session: s, out } = this.#c;
    const sel = FileSelection.of(s);
    const count = s.metainfo.files.length;
    if (spec !== undefined) {
      let files: Set<number>;
      try {
        files = spec === 'all' ? new Set(s.metainfo.files.map((_, i) => i)) : parseSelect(spec, count);
      } catch (err) {
        throw new ChunkswarmError(
          'EUSAGE',
          `${INVALID} (${describeError(err).replace(/^--select/, '/select')})`,
        );
      }
      await sel.set(files);
      out.line(
        `Selected ${files.size} of ${countOf(count, 'file')}; ${countOf(this.#wantedMissing().length, 'chunk')} of them still missing`,
        'ok',
      );
    }
    const files = sel.status();
    out.line(`Files (${files.filter((f) => f.selected).length} of ${count} selected):`);
    for (const f of files) {
      const pct = f.size === 0 ? 100 : Math.floor((100 * f.done) / f.size);
      out.line(
        `  [${f.index}] ${f.selected ? 'yes' : 'no '}  ${size(f.size).padStart(10)}  ${`${pct}%`.padStart(4)}  ${f.path}`,
      );
    }
  }

  #requireTracker(): void {
    if (!this.#c.session.trackerConnected)
      throw new ChunkswarmError('EUSAGE', 'Peer is not connected to tracker');
  }

  #known(): TrackerPeer[] {
    const me = this.#c.me;
    return this.#c.session.knownPeers.filter((p) => formatAddress(p.ip, p.port) !== me);
  }

  #target(word: string): { ip: string; port: number } {
    const connected = torrentStatus(this.#c.session).peers.flatMap((p) => splitAddress(p.address) ?? []);
    const known = this.#known();
    return resolveTarget(
      word,
      /^\d+$/.test(word)
        ? known
        : [...known, ...connected.filter((c) => !known.some((k) => k.ip === c.ip && k.port === c.port))],
    );
  }

  /** The address of the connected peer to act on (fetch, offer, close), as status lists it. */
  #connected(word: string): string {
    const t = this.#target(word);
    const address = this.#c.session.connectedAddress(t.ip, t.port);
    if (!address)
      throw new ChunkswarmError(
        'EUSAGE',
        `This peer is not connected to Peer[${formatAddress(t.ip, t.port)}]`,
      );
    return address;
  }

  #printPeerSet(): void {
    const { session: s, out } = this.#c;
    const peers = this.#known();
    out.line(`Peer set (${countOf(peers.length, 'other peer')}):`);
    peers.forEach((p, i) => {
      const st = p.status;
      const have = st?.have ?? (st?.seeder ? s.pieceCount : undefined);
      const bits = st?.bitfield ? ` ${bitString(st.bitfield, s.pieceCount)}` : '';
      const role = (st?.seeder ?? st?.left === 0) ? 'seeder' : 'leecher';
      const id = p.peerId ? p.peerId.toString('latin1').replace(/[^\x20-\x7e]/g, '.') : '-';
      out.line(
        `  [${i}] ${formatAddress(p.ip, p.port).padEnd(21)} ${id.padEnd(20)} chunks ${have ?? '?'}/${s.pieceCount}${bits}  up ${st?.uploaded ?? '?'} down ${st?.downloaded ?? '?'}  ${role}`,
      );
    });
  }
}

/** `ip:port` or `[v6]:port` (as status lists peers) back into its parts. */
function splitAddress(address: string): { ip: string; port: number } | undefined {
  const m = /^\[?([^\]]*?)\]?:(\d{1,5})$/.exec(address);
  return m ? { ip: m[1]!, port: Number(m[2]) } : undefined;
}

function bitString(bits: Buffer, n: number): string {
  let s = '';
  for (let i = 0; i < n && i < 64; i++) s += (bits[i >> 3]! & (0x80 >> (i & 7))) !== 0 ? '1' : '0';
  return n > 64 ? `${s}…` : s;
}

function formatList(xs: number[]): string {
  return xs.length > 20 ? `${xs.slice(0, 20).join(', ')} … (${xs.length} in all)` : xs.join(', ');
}

function rate(bps: number): string {
  return `${size(Math.round(bps))}/s`;
}

function size(bytes: number): string {
  if (bytes >= 1 << 30) return `${(bytes / (1 << 30)).toFixed(1)} GiB`;
  if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}
