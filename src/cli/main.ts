import { Command, CommanderError, Option } from 'commander';
import { ChunkswarmError, describeError } from '../shared/errors.js';
import { parseNodeAddress, parsePort, parsePositiveInt, parseRate, parseWebAddress } from './format.js';

/** Codes that mean the user gave us something wrong (exit 2) rather than a failure on the way (exit 1). */
const USAGE_CODES = new Set(['EUSAGE', 'EMETAINFO', 'EMETAINFO_SIZE', 'EUNSAFE_PATH', 'EMAGNET']);

function exitCodeFor(err: unknown): number {
  if (err instanceof ChunkswarmError)
    return USAGE_CODES.has(err.code) || err.code.startsWith('EBENCODE') ? 2 : 1;
  return 1;
}

const debug = process.argv.includes('--debug');

export function fail(err: unknown): never {
  if (debug && err instanceof Error) console.error(err.stack);
  else console.error(`chunkswarm: ${describeError(err)}`);
  process.exit(exitCodeFor(err));
}

// Each command's module is imported only when that command runs, so start-up stays short for all.
const program = new Command();
program
  .name('chunkswarm')
  .description('A BitTorrent tracker and peer, with the slash commands of the like-torrent assignment')
  .version('0.1.0')
  .option('--debug', 'print stack traces')
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

const host = (): Option => new Option('--host <host>', 'address to bind').default('127.0.0.1');
const port = (what: string): Option =>
  new Option('--port <port>', `${what} (0: any free port)`).argParser(parsePort);
const rate = (flag: string, what: string): Option =>
  new Option(`${flag} <rate>`, `${what}, bytes/s (KiB/MiB suffixes)`).argParser(parseRate);
const web = (): Option =>
  new Option(
    '--web <host:port>',
    'serve the peer page (dashboard) on HOST:PORT, 127.0.0.1 unless told otherwise',
  ).argParser((v) => {
    // Checked here so a typo stops the command before it starts serving.
    parseWebAddress(v);
    return v;
  });
const trace = (): Option =>
  new Option('--trace', "record every connection's messages for the peer page's Wire panel (with --web)");
const announceIp = (): Option => new Option('--announce-ip <addr>', 'address to announce when behind NAT');

program
  .command('tracker')
  .description('run a tracker: announce and scrape over HTTP and UDP (BEP 15), and its page')
  .addOption(host())
  .addOption(port('port (default 6969, or the next free one)'))
  .addOption(
    new Option('--interval <seconds>', 'announce interval')
      .default(1800)
      .argParser((v) => parsePositiveInt(v, '--interval')),
  )
  .option('--db <file>', 'keep swarms, peers and completed counts in SQLite (survives restarts)')
  .option(
    '--redis <url>',
    'keep swarms in Redis (redis://HOST:PORT/DB): trackers sharing it serve the same swarms',
  )
  .addOption(
    new Option('--workers <n>', 'processes sharing the port, for all cores (more than 1 needs --redis)')
      .default(1)
      .argParser((v) => parsePositiveInt(v, '--workers')),
  )
  .option('--torrents <dir>', 'folder of .torrent files to name swarms by')
  .option('--trust-ip-param', 'honour the ip= announce parameter (behind a proxy)')
  .option(
    '--web-token <token>',
    'token for the tracker page (generated and printed for a non-loopback --host)',
  )
  .option('--no-udp', 'serve HTTP only, no udp:// announces (UDP is served on the same port number)')
  .action((opts) => import('./tracker.js').then((c) => c.trackerCommand(opts)).catch(fail));

program
  .command('create <path>')
  .description('make a .torrent of a file or folder')
  .option('--tracker <url...>', 'announce URL (repeat for more)')
  .option('--no-tracker', 'no tracker: peers find it through the DHT (BEP 5)')
  .option(
    '--web-seed <url...>',
    'a web server holding the files, as a source beside peers (BEP 19; repeat for more)',
  )
  .addOption(
    new Option('--piece-length <bytes>', 'piece (chunk) length, power of two').argParser((v) =>
      parsePositiveInt(v, '--piece-length'),
    ),
  )
  .option('-o, --output <file>', 'where to write the .torrent (default <name>.torrent)')
  .option('--comment <text>', 'comment stored in the torrent')
  .action((path, opts) => import('./create.js').then((c) => c.createCommand(path, opts)).catch(fail));

program
  .command('info <torrent>')
  .description('show what a .torrent holds')
  .option('--json', 'machine-readable output')
  .action((path, opts) => import('./create.js').then((c) => c.infoCommand(path, opts)).catch(fail));

/** `--dht-bootstrap` and `--no-dht` of `download` and `seed` (BEP 5; no default bootstrap host). */
function dhtOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--dht-bootstrap <host:port...>',
        'DHT nodes to join through (the DHT runs once these or a saved table give it nodes)',
      ).argParser((v: string, prev: { host: string; port: number }[] | undefined) => [
        ...(prev ?? []),
        parseNodeAddress(v, '--dht-bootstrap'),
      ]),
    )
    .option('--no-dht', 'no DHT, even with a saved routing table');
}

dhtOptions(program.command('seed <torrent>'))
  .description('check the data, then serve it to every peer until interrupted')
  .requiredOption('--data <path>', 'the content: the file, or the root folder of a multi-file torrent')
  .addOption(host())
  .addOption(port('peer port'))
  .addOption(rate('--upload-limit', 'total upload rate'))
  .addOption(announceIp())
  .addOption(web())
  .option('--web-token <token>', 'token for a non-loopback --web')
  .addOption(trace())
  .action((path, opts) => import('./seed.js').then((c) => c.seedCommand(path, opts)).catch(fail));

program
  .command('peer <torrent>')
  .description("the interactive shell of the seed's slash commands")
  .requiredOption('--dir <folder>', 'memory folder: one file per chunk')
  .option('--data <path>', 'serve this content instead of a memory folder')
  .addOption(host())
  .addOption(port('peer port'))
  .addOption(announceIp())
  .addOption(web())
  .option('--web-token <token>', 'token for a non-loopback --web')
  .addOption(trace())
  .action((path, opts) => import('./peer.js').then((c) => c.peerCommand(path, opts)).catch(fail));

dhtOptions(program.command('download <torrents...>'))
  .description('fetch torrents from every peer at once, verified')
  .requiredOption('--out <dir>', 'folder to save into (creates <out>/<name>)')
  .option('--seed', 'keep seeding after completion')
  .addOption(host())
  .addOption(port('peer port'))
  .addOption(rate('--upload-limit', 'total upload rate'))
  .addOption(rate('--download-limit', 'total download rate'))
  .addOption(
    new Option(
      '--max-peers <n>',
      'peers per torrent (we dial up to half; the rest is for peers that dial us)',
    ).argParser((v) => parsePositiveInt(v, '--max-peers')),
  )
  .addOption(announceIp())
  .addOption(web())
  .option('--web-token <token>', 'token for a non-loopback --web')
  .option('--select <files>', 'download only these files, by index as `info` lists them: 0,2-4')
  .option('--exclude <glob...>', 'leave out files whose path matches (*, ?, **; repeat for more)')
  .option(
    '--on-complete <command>',
    'run COMMAND (sh -c) when a torrent is done; CHUNKSWARM_NAME, _INFOHASH, _PATH set',
  )
  .addOption(trace())
  .action((paths, opts) => import('./download.js').then((c) => c.downloadCommand(paths, opts)).catch(fail));

dhtOptions(
  program
    .command('stream <torrent>')
    .description('download one file and serve it over HTTP as it comes (Range requests), for a player')
    .requiredOption('--out <dir>', 'folder to save into (creates <out>/<name>)')
    .addOption(
      new Option('--file <n>', 'which file, by index as `info` lists them (default: the largest)').argParser(
        (v) => {
          if (!/^\d+$/.test(v))
            throw new ChunkswarmError('EUSAGE', `--file must be a file index (0, 1, ...), got ${v}`);
          return Number(v);
        },
      ),
    )
    .option('--http <host:port>', 'where to serve it (default 127.0.0.1 and a free port)')
    .addOption(host())
    .addOption(port('peer port')),
).action((path, opts) => import('./stream.js').then((c) => c.streamCommand(path, opts)).catch(fail));

program
  .command('dht')
  .description('run a bare DHT node (BEP 5): a bootstrap node for other peers, until interrupted')
  .addOption(host())
  .addOption(port('UDP port (default 6881, or the next free one)'))
  .addOption(
    new Option(
      '--bootstrap <host:port...>',
      'DHT nodes to join through (none: wait to be contacted)',
    ).argParser((v: string, prev: { host: string; port: number }[] | undefined) => [
      ...(prev ?? []),
      parseNodeAddress(v),
    ]),
  )
  .option('--state <file>', 'keep the node id and routing table in FILE across restarts')
  .action((opts) => import('./dht.js').then((c) => c.dhtCommand(opts)).catch(fail));

// Not a top-level await: a command that ends by closing everything must exit with its own code, not
// with Node's 13 for a module whose await never settled.
program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) {
    // --help and --version end here with code 0; every usage error exits 2 (commander would say 1).
    process.exit(err.exitCode === 0 ? 0 : 2);
  }
  fail(err);
});
