import t from 'tap';
import { rawTarGz, SCRIPT, type RawEntry } from '../fixtures/raw-tar';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { inspectTarball } from '../../src/packages/tarball';
import { makeCollectorTarball } from '../fixtures/tarballs';

const base = { distribution: 'otelcol-contrib', version: '0.111.0', os: 'linux', arch: 'amd64' };

t.test('accepts a proper collector tarball and hashes the raw bytes', async (t) => {
  const dir = t.testdir();
  const tarball = await makeCollectorTarball(dir, base);
  const result = await inspectTarball(tarball.path, 'otelcol-contrib', 'linux');
  t.equal(result.accepted, true, result.reason ?? 'accepted');
  t.equal(result.reason, undefined);
  t.equal(result.executableEntry, 'otelcol-contrib');
  t.equal(result.sha256.length, 32);
  t.ok(result.sha256.equals(tarball.sha256));
  t.ok(result.size > 0);
});

t.test('accepts ./name and extra files beside it', async (t) => {
  const dir = t.testdir();
  const tarball = await makeCollectorTarball(dir, {
    ...base,
    entryName: './otelcol-contrib',
    extraFiles: { 'README.md': 'hello', 'LICENSE': 'Apache-2.0' },
  });
  const result = await inspectTarball(tarball.path, 'otelcol-contrib', 'linux');
  t.equal(result.accepted, true, result.reason ?? 'accepted');
  t.equal(result.executableEntry, './otelcol-contrib');
});

t.test('refuses a binary without x bits', async (t) => {
  const tarball = await makeCollectorTarball(t.testdir(), { ...base, executable: false });
  const result = await inspectTarball(tarball.path, 'otelcol-contrib', 'linux');
  t.equal(result.accepted, false);
  t.equal(result.reason, 'otelcol-contrib is not executable');
  t.ok(result.sha256.equals(tarball.sha256));
});

t.test('refuses a tarball holding another distribution', async (t) => {
  const tarball = await makeCollectorTarball(t.testdir(), { ...base, distribution: 'otelcol' });
  const result = await inspectTarball(tarball.path, 'otelcol-contrib', 'linux');
  t.equal(result.accepted, false);
  t.equal(result.reason, 'no executable named otelcol-contrib inside');
});

t.test('refuses a binary below the root and says where it was', async (t) => {
  const tarball = await makeCollectorTarball(t.testdir(), { ...base, entryName: 'bin/otelcol-contrib' });
  const result = await inspectTarball(tarball.path, 'otelcol-contrib', 'linux');
  t.equal(result.accepted, false);
  t.equal(result.reason, 'no executable named otelcol-contrib inside at the archive root (found bin/otelcol-contrib)');
});

t.test('refuses an uncompressed tar and random bytes as not gzip', async (t) => {
  const dir = t.testdir();
  const plain = await makeCollectorTarball(dir, { ...base, notGzip: true });
  const result = await inspectTarball(plain.path, 'otelcol-contrib', 'linux');
  t.equal(result.accepted, false);
  t.equal(result.reason, 'not gzip');
  t.ok(result.sha256.equals(plain.sha256));
  const empty = join(dir, 'empty.tar.gz');
  await writeFile(empty, '');
  t.match(await inspectTarball(empty, 'otelcol-contrib', 'linux'), { accepted: false, reason: /^not gzip/, size: 0 });
});

t.test('refuses gzip that does not hold a tar', async (t) => {
  const path = join(t.testdir(), 'text.tar.gz');
  await writeFile(path, gzipSync(Buffer.from('just some text, not a tar archive at all\n'.repeat(40))));
  const result = await inspectTarball(path, 'otelcol-contrib', 'linux');
  t.equal(result.accepted, false);
  t.equal(result.reason, 'not a tar archive');
});

t.test('refuses a truncated tarball', async (t) => {
  const dir = t.testdir();
  const tarball = await makeCollectorTarball(dir, { ...base, sizeBytes: 200_000 });
  const { readFile } = await import('node:fs/promises');
  const bytes = await readFile(tarball.path);
  const cut = join(dir, 'cut.tar.gz');
  await writeFile(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
  const result = await inspectTarball(cut, 'otelcol-contrib', 'linux');
  t.equal(result.accepted, false);
  t.match(result.reason, /truncated/);
});

t.test('refuses a symlink named like the binary', async (t) => {
  const tarball = await makeCollectorTarball(t.testdir(), { ...base, symlink: true });
  const result = await inspectTarball(tarball.path, 'otelcol-contrib', 'linux');
  t.equal(result.accepted, false);
  t.equal(result.reason, 'otelcol-contrib is a symlink, not a regular file');
});

t.test('windows wants the .exe', async (t) => {
  const dir = t.testdir();
  const windows = await makeCollectorTarball(dir, { ...base, os: 'windows' });
  t.match(await inspectTarball(windows.path, 'otelcol-contrib', 'windows'), {
    accepted: true,
    executableEntry: 'otelcol-contrib.exe',
  });
  const withoutExe = await makeCollectorTarball(dir, { ...base, os: 'windows', arch: 'arm64', entryName: 'otelcol-contrib' });
  t.match(await inspectTarball(withoutExe.path, 'otelcol-contrib', 'windows'), {
    accepted: false,
    reason: 'no executable named otelcol-contrib.exe inside',
  });
});

t.test('stops walking past the unpacked-size limit but still hashes everything', async (t) => {
  const tarball = await makeCollectorTarball(t.testdir(), { ...base, sizeBytes: 3_000_000 });
  const result = await inspectTarball(tarball.path, 'otelcol-contrib', 'linux', { maxUnpackedBytes: 1_000_000 });
  t.equal(result.accepted, false);
  t.match(result.reason, /more than 1000000 bytes/);
  t.ok(result.sha256.equals(tarball.sha256));
});

t.test('padding after the end of the archive is not buffered', async (t) => {
  const dir = t.testdir();
  const { readFile } = await import('node:fs/promises');
  const plain = await makeCollectorTarball(dir, { ...base, notGzip: true });
  const padded = join(dir, 'padded.tar.gz');
  await writeFile(padded, gzipSync(Buffer.concat([await readFile(plain.path), Buffer.alloc(64 * 1024 * 1024)])));
  const started = Date.now();
  // Zeros compress about 1000:1, which the bomb check would refuse; this test is about buffering.
  const result = await inspectTarball(padded, 'otelcol-contrib', 'linux', { maxCompressionRatio: Infinity });
  t.equal(result.accepted, true, result.reason ?? 'accepted');
  t.ok(Date.now() - started < 5000, 'no quadratic buffering after the tar end');
  const bomb = join(dir, 'bomb.tar.gz');
  await writeFile(bomb, gzipSync(Buffer.alloc(64 * 1024 * 1024)));
  t.match(await inspectTarball(bomb, 'otelcol-contrib', 'linux', { maxUnpackedBytes: 8 * 1024 * 1024 }), {
    accepted: false,
    reason: /inspection stopped/,
  });
});

t.test('an archive far more compressed than any binary is refused as a bomb once past the check size', async (t) => {
  const dir = t.testdir();
  const bomb = join(dir, 'bomb.tar.gz');
  await writeFile(bomb, gzipSync(Buffer.alloc(16 * 1024 * 1024)));
  const refused = await inspectTarball(bomb, 'otelcol-contrib', 'linux', { ratioCheckAfterBytes: 4 * 1024 * 1024 });
  t.equal(refused.accepted, false);
  t.match(refused.reason, /more than 50 times its compressed size .*gzip bomb/);
  const binary = await makeCollectorTarball(dir, { ...base, sizeBytes: 8 * 1024 * 1024 });
  const accepted = await inspectTarball(binary.path, 'otelcol-contrib', 'linux', { ratioCheckAfterBytes: 1024 * 1024 });
  t.equal(accepted.accepted, true, 'random bytes (as incompressible as a binary) pass the same check');
});

t.test('links that stay inside the archive are fine; ones that leave it are refused', async (t) => {
  const dir = t.testdir();
  const judge = async (entries: RawEntry[]) => {
    const file = join(dir, `links-${Math.random()}.tar.gz`);
    await writeFile(file, rawTarGz([{ path: 'otelcol-contrib', body: SCRIPT }, ...entries]));
    return inspectTarball(file, 'otelcol-contrib', 'linux');
  };
  t.equal((await judge([{ path: 'lib/b', body: SCRIPT }, { path: 'bin/a', type: '2', linkTarget: '../lib/b' }])).accepted, true);
  t.equal((await judge([{ path: 'copy', type: '1', linkTarget: 'otelcol-contrib' }])).accepted, true);
  t.match((await judge([{ path: 'bin/a', type: '2', linkTarget: '../../etc/passwd' }])).reason, /^unsafe link "bin\/a"/);
  t.match((await judge([{ path: 'a', type: '1', linkTarget: '/etc/passwd' }])).reason, /^unsafe link "a"/);
  t.match((await judge([{ path: 'a', type: '2', linkTarget: 'C:\\Windows' }])).reason, /^unsafe link/);
  t.match((await judge([{ path: 'x/../../y', body: SCRIPT }])).reason, /^unsafe entry "x\/\.\.\/\.\.\/y"/);
  t.match((await judge([{ path: '..\\evil', body: SCRIPT }])).reason, /^unsafe entry/);
});

t.test('a missing file rejects', async (t) => {
  await t.rejects(inspectTarball(join(t.testdir(), 'missing.tar.gz'), 'otelcol-contrib', 'linux'), { code: 'ENOENT' });
});

t.test('hashes a 50 MB tarball without holding it in memory', async (t) => {
  const tarball = await makeCollectorTarball(t.testdir(), { ...base, sizeBytes: 50 * 1024 * 1024 });
  global.gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 5);
  const result = await inspectTarball(tarball.path, 'otelcol-contrib', 'linux');
  clearInterval(sampler);
  t.equal(result.accepted, true, result.reason ?? 'accepted');
  t.ok(result.sha256.equals(tarball.sha256));
  t.ok(result.size > 50 * 1024 * 1024);
  // A loaded copy would add at least 50 MB; streaming stays well under that.
  t.ok(peak - before < 40 * 1024 * 1024, `rss grew by ${Math.round((peak - before) / 1024 / 1024)} MB`);
});
