// UUIDv7 (RFC 9562): 48-bit millisecond timestamp, then random bits, with version and variant
// set. The spec asks for v7 so that uids sort by creation time.
import { randomFillSync } from 'node:crypto';

export function newInstanceUid(nowMs: number = Date.now()): Buffer {
  const bytes = Buffer.alloc(16);
  randomFillSync(bytes, 6);
  bytes.writeUIntBE(nowMs, 0, 6);
  bytes[6] = (bytes[6]! & 0x0f) | 0x70;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  return bytes;
}
