import t from 'tap';
import { appendFile, mkdir, rename, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createDirectorySource, isTemporaryName } from '../../plugins/directory';
import { waitFor } from '../helpers/wait';

const asset = 'otelcol-contrib_0.111.0_linux_amd64.tar.gz';

/** Writes a file whose mtime is well in the past, as a finished copy would have. */
async function writeOld(path: string, content: string | Buffer): Promise<void> {
  await writeFile(path, content);
  const past = new Date(Date.now() - 60_000);
  await utimes(path, past, past);
}

t.test('reports assets with their sidecars and parsed names', async (t) => {
  const dir = t.testdir();
  await writeOld(join(dir, asset), 'tarball');
  await writeOld(join(dir, `${asset}.pem`), 'cert');
  await writeOld(join(dir, `${asset}.sig`), 'sig');
  await writeOld(join(dir, `${asset}.sigstore.json`), '{}');
  await writeOld(join(dir, 'otelcol_0.110.0_darwin_arm64.tar.gz'), 'other');
  const source = createDirectorySource({ directory: dir });
  t.teardown(() => source.close());
  t.equal(source.name, `directory:${dir}`);
  const files = await source.scan();
  t.equal(files.length, 2);
  const contrib = files.find((file) => file.fileName === asset);
  t.match(contrib, {
    distribution: 'otelcol-contrib',
    version: '0.111.0',
    os: 'linux',
    arch: 'amd64',
    tarballPath: join(dir, asset),
    sidecars: {
      bundlePath: join(dir, `${asset}.sigstore.json`),
      certificatePath: join(dir, `${asset}.pem`),
      signaturePath: join(dir, `${asset}.sig`),
    },
  });
  const plain = files.find((file) => file.fileName === 'otelcol_0.110.0_darwin_arm64.tar.gz');
  t.same(plain?.sidecars, {});
});

t.test('the fingerprint follows the tarball and its sidecars', async (t) => {
  const dir = t.testdir();
  await writeOld(join(dir, asset), 'tarball');
  const source = createDirectorySource({ directory: dir });
  const [first] = await source.scan();
  const [again] = await source.scan();
  t.equal(again?.fingerprint, first?.fingerprint, 'unchanged files keep their fingerprint');
  await writeOld(join(dir, `${asset}.sig`), 'sig');
  const [signed] = await source.scan();
  t.not(signed?.fingerprint, first?.fingerprint, 'a new sidecar changes it');
  await writeOld(join(dir, asset), 'tarball, rebuilt');
  await source.scan(); // the changed tarball waits one scan to prove it settled
  const [rebuilt] = await source.scan();
  t.not(rebuilt?.fingerprint, signed?.fingerprint, 'a replaced tarball changes it');
});

t.test('a tarball whose name does not parse is reported as rejected, never as a release', async (t) => {
  const dir = t.testdir();
  for (const name of ['otelcol-contrib.tar.gz', `otelcol-contrib_0.111.0_linux_amd64 (1).tar.gz`]) await writeOld(join(dir, name), 'x');
  const files = await createDirectorySource({ directory: dir }).scan();
  t.same(files.map((file) => file.fileName).sort(), ['otelcol-contrib.tar.gz', 'otelcol-contrib_0.111.0_linux_amd64 (1).tar.gz']);
  for (const file of files) {
    t.match(file.rejected, /^file name is not <distribution>_<version>_<os>_<arch>\.tar\.gz/);
    t.equal(file.distribution, '');
  }
});

t.test('ignores other files, dotfiles, temporary names and directories', async (t) => {
  const dir = t.testdir();
  for (const name of [
    'README.md',
    'checksums.txt',
    `.${asset}`,
    `.${asset}.tmp`,
    `${asset}.partial`,
    `${asset}.part`,
    `${asset}.tmp`,
    `${asset}.crdownload`,
    'notes.txt.sig',
    'otelcol_0.110.0_linux_amd64.tar.gz.sig',
  ]) {
    await writeOld(join(dir, name), 'x');
  }
  await mkdir(join(dir, 'otelcol_0.112.0_linux_amd64.tar.gz'));
  const source = createDirectorySource({ directory: dir });
  t.same(await source.scan(), []);
  t.ok(isTemporaryName('.foo.tmp'));
  t.ok(isTemporaryName('x.tar.gz.crdownload'));
  t.notOk(isTemporaryName(asset));
});

t.test('a file written in steps is only taken once it stops changing', async (t) => {
  const dir = t.testdir();
  const path = join(dir, asset);
  const source = createDirectorySource({ directory: dir, stableAfterMs: 150 });
  await writeFile(path, 'first half');
  t.same(await source.scan(), [], 'fresh mtime: still being written');
  // `cp -p` sets an old mtime only at the very end: the size still differs from the last scan.
  await appendFile(path, ', the end');
  const past = new Date(Date.now() - 60_000);
  await utimes(path, past, past);
  t.same(await source.scan(), [], 'old mtime but changed since the previous scan');
  const files = await source.scan();
  t.equal(files.length, 1, 'unchanged and old: taken');
});

t.test('a young file that stops changing is taken once stableAfterMs has passed', async (t) => {
  const dir = t.testdir();
  const source = createDirectorySource({ directory: dir, stableAfterMs: 150 });
  await writeFile(join(dir, asset), 'complete');
  t.same(await source.scan(), [], 'too young to be taken');
  const files = await waitFor('the settled file to be taken', async () => {
    const scanned = await source.scan();
    return scanned.length > 0 ? scanned : undefined;
  });
  t.equal(files[0]?.fileName, asset);
});

t.test('an atomic rename of a finished file is taken at once', async (t) => {
  const dir = t.testdir();
  const source = createDirectorySource({ directory: dir, stableAfterMs: 5000 });
  const temporary = join(dir, `.${asset}.tmp`);
  await writeOld(temporary, 'complete');
  t.same(await source.scan(), [], 'the temporary name is ignored');
  await rename(temporary, join(dir, asset));
  const files = await source.scan();
  t.equal(files.length, 1);
  t.equal(files[0]?.fileName, asset);
});

t.test('an atomic rename over an existing asset is taken at once', async (t) => {
  const dir = t.testdir();
  await writeOld(join(dir, asset), 'old build');
  const source = createDirectorySource({ directory: dir, stableAfterMs: 5000 });
  const [before] = await source.scan();
  const temporary = join(dir, `${asset}.tmp`);
  await writeOld(temporary, 'new build, longer');
  await rename(temporary, join(dir, asset));
  const [after] = await source.scan();
  t.ok(after, 'still reported');
  t.not(after?.fingerprint, before?.fingerprint);
});

t.test('a half-written sidecar is left out until it settles', async (t) => {
  const dir = t.testdir();
  await writeOld(join(dir, asset), 'tarball');
  await writeFile(join(dir, `${asset}.sigstore.json`), '{"half');
  const source = createDirectorySource({ directory: dir, stableAfterMs: 150 });
  const [first] = await source.scan();
  t.same(first?.sidecars, {}, 'the fresh sidecar is left out');
  const bundlePath = await waitFor('the settled sidecar to be taken', async () => (await source.scan())[0]?.sidecars.bundlePath);
  t.equal(bundlePath, join(dir, `${asset}.sigstore.json`));
});

t.test('removed files disappear', async (t) => {
  const dir = t.testdir();
  await writeOld(join(dir, asset), 'tarball');
  const source = createDirectorySource({ directory: dir });
  t.equal((await source.scan()).length, 1);
  await unlink(join(dir, asset));
  t.same(await source.scan(), []);
});

t.test('a missing directory is a clear error', async (t) => {
  const dir = join(t.testdir(), 'nowhere');
  const source = createDirectorySource({ directory: dir });
  await t.rejects(source.scan(), { message: `release directory ${dir} does not exist` });
});

t.test('watch calls onChange (debounced) and close stops it', async (t) => {
  const dir = t.testdir();
  // Long enough that the whole burst falls inside one window even on a busy machine.
  const debounceMs = 200;
  const source = createDirectorySource({ directory: dir, debounceMs });
  let calls = 0;
  t.ok(source.watch, 'the directory source watches');
  source.watch?.(() => {
    calls += 1;
  });
  await Promise.all(Array.from({ length: 5 }, (_, index) => writeFile(join(dir, `file-${index}`), 'x')));
  await waitFor('the first call', () => calls > 0);
  // A call that must not come cannot be waited for: two more windows give it every chance.
  await sleep(2 * debounceMs);
  t.equal(calls, 1, 'a burst of events gives one call');
  await source.close();
  await writeFile(join(dir, 'after-close'), 'x');
  await sleep(2 * debounceMs);
  t.equal(calls, 1, 'nothing after close');
});

t.test('watch failure is logged, not thrown', async (t) => {
  const warnings: string[] = [];
  const source = createDirectorySource({
    directory: join(t.testdir(), 'missing'),
    logger: { warn: (_details, message) => warnings.push(message) },
  });
  t.doesNotThrow(() => source.watch?.(() => undefined));
  t.equal(warnings.length, 1);
  await source.close();
});
