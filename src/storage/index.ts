export { ChunkFolderStorage } from './chunk-folder.js';
export { FileStorage, type FileStorageOptions, partFilePath } from './file-storage.js';
export { freeBytes } from './free-space.js';
export { PieceHasher, type PieceHasherOptions, pieceHash, type Sha1Options, verifyPiece } from './hasher.js';
export { MemoryStorage } from './memory.js';
export { type CachedBlock, PieceReadCache } from './read-cache.js';
export type { Storage, VerifyOptions } from './storage.js';
