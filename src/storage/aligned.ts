/**
 * Piece buffers whose memory starts on a 4 KiB boundary, so a piece can be written with O_DIRECT
 * (see FileStorage): Linux takes such a write straight from the buffer to the device, and refuses
 * (EINVAL) a buffer, offset or length that is not a multiple of the device's block size.
 *
 * JavaScript cannot see or choose the address of an ArrayBuffer, and Node's allocator gives large
 * buffers 16 bytes past a page. A WebAssembly memory is the one allocation whose start is a page by
 * construction; a shared one is a SharedArrayBuffer, so the hashing workers read it without a copy, as
 * they read the pool's other buffers. Buffers are carved from slabs of SLAB_BYTES, each at a multiple of
 * DIRECT_IO_ALIGN: physical memory is only taken as pages are touched, and a slab lives as long as any
 * buffer cut from it.
 */

/** What O_DIRECT asks of a buffer's address, a file offset and a length on common devices (512 or 4096). */
export const DIRECT_IO_ALIGN = 4096;

const WASM_PAGE = 64 * 1024;
const SLAB_BYTES = 16 * 1024 * 1024;

/** The slabs handed out so far, to tell an aligned buffer from any other. */
const slabs = new WeakSet<ArrayBufferLike>();

/**
 * A fresh slab, or plain shared memory where V8 cannot make one: each WebAssembly memory reserves about
 * 10 GB of address space (untouched, so it costs no memory), which a limit on it (`ulimit -v`) may refuse.
 * Buffers cut from plain memory work the same, only never with O_DIRECT.
 */
function newSlab(bytes: number): SharedArrayBuffer {
  const pages = Math.ceil(bytes / WASM_PAGE);
  try {
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    const sab = memory.buffer as unknown as SharedArrayBuffer;
    slabs.add(sab);
    return sab;
  } catch {
    return new SharedArrayBuffer(pages * WASM_PAGE);
  }
}

let slab: SharedArrayBuffer | undefined;
let used = 0;

/** A buffer of `size` bytes (zero-filled when fresh) whose first byte is on a DIRECT_IO_ALIGN boundary. */
export function alignedBuffer(size: number): Buffer {
  const need = Math.ceil(Math.max(size, 1) / DIRECT_IO_ALIGN) * DIRECT_IO_ALIGN;
  if (need > SLAB_BYTES / 4) return Buffer.from(newSlab(need), 0, size);
  if (slab === undefined || used + need > slab.byteLength) {
    slab = newSlab(SLAB_BYTES);
    used = 0;
  }
  const buf = Buffer.from(slab, used, size);
  used += need;
  return buf;
}

/**
 * Whether bytes `at` to `at + length` of `buf` may be written with O_DIRECT at file offset `position`:
 * the buffer comes from alignedBuffer and the range, its length and the offset are all aligned.
 */
export function directWritable(buf: Buffer, at: number, length: number, position: number): boolean {
  return (
    slabs.has(buf.buffer) &&
    (buf.byteOffset + at) % DIRECT_IO_ALIGN === 0 &&
    length % DIRECT_IO_ALIGN === 0 &&
    position % DIRECT_IO_ALIGN === 0 &&
    length > 0
  );
}

/**
 * Whether two buffers start at the same byte of the same memory. Buffers cut from one slab share their
 * ArrayBuffer, so that alone no longer tells one pool buffer from another.
 */
export function sameMemory(a: Buffer, b: Buffer): boolean {
  return a.buffer === b.buffer && a.byteOffset === b.byteOffset;
}
