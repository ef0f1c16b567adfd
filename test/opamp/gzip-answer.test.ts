// Answers to clients that accept gzip: short ones in gzip's stored form, long ones deflated.
// Both must be read back by any gzip reader: Node's zlib and the gzip command.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import t from 'tap';
import { gzipAnswer, STORED_GZIP_BELOW_BYTES } from '../../src/opamp/body';

const sizes = [0, 1, 20, STORED_GZIP_BELOW_BYTES - 1, STORED_GZIP_BELOW_BYTES, 4096, 70_000];

t.test('every answer reads back whole, with zlib and with the gzip command', async (t) => {
  for (const size of sizes) {
    const body = randomBytes(size);
    const member = gzipAnswer(body);
    t.same(zlib.gunzipSync(member), body, `${size} bytes through zlib`);
    t.same(execFileSync('gzip', ['-dc'], { input: member }), body, `${size} bytes through gzip -dc`);
  }
});

t.test('a short answer is stored, not run through the compressor', async (t) => {
  const body = randomBytes(20);
  // 10 bytes of header, 5 of stored-block header, the data, 8 of trailer.
  t.equal(gzipAnswer(body).byteLength, body.byteLength + 23);
});

t.test('a long answer that compresses is sent compressed', async (t) => {
  const body = Buffer.from('https://fleet.example/v1/packages/otelcol-contrib_0.111.0_linux_amd64.tar.gz '.repeat(20));
  const member = gzipAnswer(body);
  t.ok(member.byteLength < body.byteLength / 4, `${body.byteLength} bytes became ${member.byteLength}`);
  t.same(zlib.gunzipSync(member), body);
});
