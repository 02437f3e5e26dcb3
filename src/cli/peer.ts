import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Client } from '../session/client.js';
import { describeError } from '../shared/errors.js';
import { formatAddress } from '../shared/types.js';
import { Shell, type ShellOutput } from '../shell/shell.js';
import { ChunkFolderStorage, FileStorage } from '../storage/index.js';
import { ShellTap } from '../web/console.js';
import { createColors } from './format.js';
import { onShutdown } from './signals.js';
import { loadTorrent } from './torrent-file.js';
import { startTraceFlag, startWebFlag } from './web-flag.js';

export async function peerCommand(
  path: string,
  opts: {
    dir: string;
    data?: string;
    host: string;
    port?: number;
    announceIp?: string;
    web?: string;
    webToken?: string;
    trace?: boolean;
  },
): Promise<void> {
  const trace = startTraceFlag(opts.trace, opts.web);
  const metainfo = await loadTorrent(path);
  const chunks = new ChunkFolderStorage(metainfo, resolve(opts.dir));
  const storage = opts.data ? new FileStorage(metainfo, resolve(opts.data), { readOnly: true }) : chunks;
  const client = new Client({ host: opts.host, port: opts.port, announceIp: opts.announceIp });
  const have = await storage.verifyExisting({ hasher: client.hasher });
  const { host, port } = await client.listen();
  const session = await client.add({ metainfo }, { storage, have, mode: 'manual' });
  const me = formatAddress(opts.announceIp ?? host, port);
  const tty = Boolean(process.stdin.isTTY && process.stdout.isTTY);
  const colors = createColors(tty);
  const out: ShellOutput = {
    line(text, kind) {
      const painted = kind === 'ok' ? colors.green(text) : kind === 'error' ? colors.red(text) : text;
      console.log(painted);
    },
  };
  // Lines from stdin and from the web console run one at a time; the page gets its command's lines back.
  const tap = new ShellTap(out);
  const quit = async (): Promise<void> => {
    await client.close({ announce: false });
    process.exit(0);
  };
  const shell = new Shell({
    session,
    me,
    out: tap.output,
    merge: opts.data
      ? undefined
      : async (outDir, files) => {
          const target = join(resolve(outDir), metainfo.name);
          await chunks.merge(target, { hasher: client.hasher, files });
          return target;
        },
    chunkFileName: (i) => chunks.chunkFileName(i),
    quit,
  });
  onShutdown(() => client.close());
  await startWebFlag(opts.web, opts.webToken, {
    client,
    command: 'peer',
    log: (line) => out.line(line),
    saveTo: { chunks: opts.dir },
    shell: { session, run: (line) => tap.capture(() => shell.run(line)) },
    trace,
  });

  out.line(
    `chunkswarm peer for ${metainfo.name}: ${have.count}/${metainfo.pieceCount} chunks held, listening on ${me}`,
  );
  if (tty) out.line('type /help for the commands');
  session.events.on('suggest', (address, i) => {
    if (tty) out.line(colors.dim(`Peer[${address}] offers chunk ${i}`));
  });
  session.events.on('piece-verified', (i, from) => {
    if (tty) out.line(colors.dim(`chunk ${i} verified${from ? ` (from Peer[${from}])` : ''}`));
  });

  const rl = createInterface({
    input: process.stdin,
    output: tty ? process.stdout : undefined,
    terminal: tty,
    historySize: 200,
    completer: (line: string) => {
      const word = line.split(/\s+/).pop() ?? '';
      const hits = shell.completions().filter((c) => c.startsWith(word));
      return [hits, word];
    },
  });
  const prompt = (): void => {
    if (!tty) return;
    rl.setPrompt(
      `${colors.cyan(metainfo.name)} ${session.trackerConnected ? colors.green('●') : colors.dim('○')} ${session.have.count}/${metainfo.pieceCount} > `,
    );
    rl.prompt();
  };
  prompt();
  // Lines are taken one at a time: each command finishes before the next starts.
  for await (const line of rl) {
    try {
      await tap.serial(() => shell.run(line));
    } catch (err) {
      out.line(describeError(err), 'error');
    }
    if (shell.quitting) break;
    prompt();
  }
  if (!shell.quitting) await client.close();
  process.exit(0);
}
