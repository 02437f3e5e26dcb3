/**
 * One of Node's internal bindings (`tcp_wrap`, `stream_wrap`, `udp_wrap`), reached through the
 * deprecated `process.binding`; undefined when this Node does not offer it. The socket layers
 * (tcp.ts, udp.ts) check every member they use before relying on one, and fall back to net or dgram.
 */
export function processBinding(name: string): Record<string, unknown> | undefined {
  try {
    const get = (process as unknown as { binding?: (name: string) => Record<string, unknown> }).binding;
    if (typeof get !== 'function') return undefined;
    const b = get.call(process, name);
    return typeof b === 'object' && b !== null ? b : undefined;
  } catch {
    return undefined;
  }
}
