/**
 * SIGINT/SIGTERM run `stop` once (announce stopped, close files) and exit 0; a second signal, or a stop
 * that hangs for 5 s, exits at once.
 */
export function onShutdown(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (): void => {
    if (stopping) process.exit(0);
    stopping = true;
    setTimeout(() => process.exit(0), 5000).unref();
    stop()
      .catch((err) => console.error(`chunkswarm: while stopping: ${String(err)}`))
      .finally(() => process.exit(0));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}
