import { startTracker } from '../tracker/index.js';
import { onShutdown } from './signals.js';

export async function trackerCommand(opts: { host: string; port: number; interval: number; trustIpParam?: boolean; db?: string }): Promise<void> {
  const tracker = await startTracker({
    host: opts.host,
    port: opts.port,
    interval: opts.interval,
    trustIpParam: Boolean(opts.trustIpParam),
  });
  console.log(`tracker listening on ${tracker.announceUrl}`);
  onShutdown(async () => {
    await tracker.close();
  });
}
