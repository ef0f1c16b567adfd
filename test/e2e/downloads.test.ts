// The download route as a client sees it: whole files, HEAD, ranges, caching, curl, refusals of
// anything but a catalog entry, and download URLs shaped by --public-url and a trusted proxy.
import { execFile } from 'node:child_process';
import fs, { readFileSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { createSigstoreWorld } from '../fixtures/sigstore-world';
import { temporaryDirectory } from '../helpers/server';
import { hex, nextSeed, offerFor, placePackage, releaseDirectory, startPackageServer } from './helpers';

// Asynchronous: the server answering curl runs in this very process.
const run = promisify(execFile);

/** A GET with the path sent exactly as written: fetch would normalise `..` segments away. */
function rawGet(url: string, rawPath: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const outgoing = request({ hostname, port, path: rawPath, method: 'GET' }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

t.test('downloads', async (t) => {
  const world = await createSigstoreWorld();
  const { directory, rootPath } = await releaseDirectory(world);
  const placed = await placePackage(world, directory, { version: '0.111.0', sizeBytes: 300_000 });
  const rejected = await placePackage(world, directory, { version: '0.112.0', signing: 'none' });
  const server = await startPackageServer(t, rootPath, directory, { offer: 'latest' });
  const offer = await offerFor(server, { seed: nextSeed(), version: '0.110.0' });
  const url = offer?.file?.downloadUrl ?? '';
  const size = statSync(path.join(directory, placed.fileName)).size;

  t.test('GET: whole file, length, strong ETag, ranges advertised', async (t) => {
    const response = await fetch(url);
    t.equal(response.status, 200);
    const body = Buffer.from(await response.arrayBuffer());
    t.equal(createHash('sha256').update(body).digest('hex'), hex(offer?.file?.contentHash));
    t.equal(response.headers.get('content-length'), String(size));
    t.equal(response.headers.get('etag'), `"${placed.sha256Hex}"`);
    t.equal(response.headers.get('accept-ranges'), 'bytes');
  });

  t.test('HEAD: the headers without a body', async (t) => {
    const response = await fetch(url, { method: 'HEAD' });
    t.equal(response.status, 200);
    t.equal(response.headers.get('content-length'), String(size));
    t.equal(response.headers.get('etag'), `"${placed.sha256Hex}"`);
    t.equal((await response.arrayBuffer()).byteLength, 0);
  });

  t.test('Range: 206 with Content-Range; 416 past the end', async (t) => {
    const whole = Buffer.from(await (await fetch(url)).arrayBuffer());
    const part = await fetch(url, { headers: { range: 'bytes=100-199' } });
    t.equal(part.status, 206);
    t.equal(part.headers.get('content-range'), `bytes 100-199/${size}`);
    t.equal(part.headers.get('content-length'), '100');
    t.same(Buffer.from(await part.arrayBuffer()), whole.subarray(100, 200));
    const tail = await fetch(url, { headers: { range: 'bytes=-10' } });
    t.equal(tail.status, 206);
    t.same(Buffer.from(await tail.arrayBuffer()), whole.subarray(size - 10));
    const resume = await fetch(url, { headers: { range: `bytes=${size - 5}-` } });
    t.equal(resume.headers.get('content-range'), `bytes ${size - 5}-${size - 1}/${size}`);
    const beyond = await fetch(url, { headers: { range: `bytes=${size}-` } });
    t.equal(beyond.status, 416);
    t.equal(beyond.headers.get('content-range'), `bytes */${size}`);
    t.equal(((await beyond.json()) as { code: string }).code, 'RANGE_NOT_SATISFIABLE', 'the error table\'s code, in JSON like every download error');
  });

  t.test('If-None-Match with the ETag: 304', async (t) => {
    const response = await fetch(url, { headers: { 'if-none-match': `"${placed.sha256Hex}"` } });
    t.equal(response.status, 304);
    const other = await fetch(url, { headers: { 'if-none-match': '"something-else"' } });
    t.equal(other.status, 200);
  });

  t.test('curl fetches what content_hash promises', async (t) => {
    const output = path.join(temporaryDirectory('opamp-curl-'), placed.fileName);
    await run('curl', ['--silent', '--show-error', '--fail', '--output', output, url]);
    const bytes = readFileSync(output);
    t.equal(createHash('sha256').update(bytes).digest('hex'), hex(offer?.file?.contentHash));
  });

  t.test('a file whose stat fails: 503, and its handle is closed, not leaked', async (t) => {
    // The server runs in this process: its next open hands back a handle whose stat fails, as a
    // failing disk would; every other call of fs goes through untouched.
    const realOpen = fs.promises.open;
    const opened: fs.promises.FileHandle[] = [];
    fs.promises.open = async (...args: Parameters<typeof realOpen>) => {
      const handle = await realOpen(...args);
      // stat is overloaded (plain and bigint); the stand-in fails whichever is asked for.
      handle.stat = (() => Promise.reject(Object.assign(new Error('EIO: i/o error, fstat'), { code: 'EIO' }))) as typeof handle.stat;
      opened.push(handle);
      return handle;
    };
    let response: Response;
    try {
      response = await fetch(url);
    } finally {
      fs.promises.open = realOpen;
    }
    t.equal(response.status, 503, 'an I/O failure is answered as the error table says (STORE_FAILURE)');
    t.equal(opened.length, 1, 'the download opened the file once');
    t.equal(opened[0]!.fd, -1, 'and closed it');
    t.equal((await fetch(url)).status, 200, 'the next download is served');
  });

  t.test('nothing but a catalog entry is reachable', async (t) => {
    const sha = placed.sha256Hex;
    const attempts = [
      `/v1/packages/${sha}/..%2F..%2Fetc%2Fpasswd`,
      `/v1/packages/${sha}/../../etc/passwd`,
      `/v1/packages/${sha}/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd`,
      `/v1/packages/${sha}/..%5C..%5Cetc%5Cpasswd`,
      `/v1/packages/${sha}/releases%2F${placed.fileName}`,
      `/v1/packages/${sha}/${placed.fileName}%00`,
      `/v1/packages/..%2F..%2Fetc/passwd`,
      `/v1/packages/${'0'.repeat(64)}/${placed.fileName}`,
      `/v1/packages/${sha.toUpperCase()}/${placed.fileName}`,
      `/v1/packages/${sha}/otelcol-contrib_0.111.0_linux_arm64.tar.gz`,
      `/v1/packages/${sha}/${placed.fileName}.sigstore.json`,
      `/v1/packages/${rejected.sha256Hex}/${rejected.fileName}`,
      `/v1/packages/${sha}`,
      `/v1/packages/${sha}/${placed.fileName}/extra`,
    ];
    for (const attempt of attempts) {
      const response = await rawGet(server.url, attempt);
      t.equal(response.status, 404, attempt);
      t.notMatch(response.body, /root:/, `${attempt}: no system file`);
    }
    const traversal = `${server.url}/v1/packages/${sha}/../../../../etc/passwd`;
    const curl = await run('curl', ['--silent', '--path-as-is', '--output', '/dev/null', '--write-out', '%{http_code}', traversal]);
    t.equal(curl.stdout, '404', 'curl --path-as-is');
  });

  t.test('download URLs follow --public-url, or a trusted proxy', async (t) => {
    const agent = { version: '0.110.0' };
    const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'fleet.example:8220', 'x-forwarded-prefix': '/api/opamp/' };
    const suffix = `/v1/packages/${placed.sha256Hex}/${placed.fileName}`;

    const publicUrl = await startPackageServer(t, rootPath, directory, { offer: 'latest', 'public-url': 'https://packages.example/base/' });
    const fromPublic = await offerFor(publicUrl, { ...agent, seed: nextSeed() }, forwarded);
    t.equal(fromPublic?.file?.downloadUrl, `https://packages.example/base${suffix}`, '--public-url wins over headers');

    const proxied = await startPackageServer(t, rootPath, directory, { offer: 'latest', 'trust-proxy': true });
    const fromProxy = await offerFor(proxied, { ...agent, seed: nextSeed() }, forwarded);
    t.equal(fromProxy?.file?.downloadUrl, `https://fleet.example:8220/api/opamp${suffix}`, 'X-Forwarded-* honoured');
    const direct = await offerFor(proxied, { ...agent, seed: nextSeed() });
    t.equal(direct?.file?.downloadUrl, `${proxied.url}${suffix}`, 'no headers: the request itself');

    const fromUntrusted = await offerFor(server, { ...agent, seed: nextSeed() }, forwarded);
    t.equal(fromUntrusted?.file?.downloadUrl, `${server.url}${suffix}`, 'X-Forwarded-* ignored without --trust-proxy');
    t.equal(hex(fromProxy?.hash), hex(fromUntrusted?.hash), 'the URL is not in the package hash');
  });
});
