// HTTPS on the server's own port, with certificates minted by openssl for each run: a poll, a
// download and an admin call over TLS; plain HTTP refused; mutual TLS refusing a client without a
// certificate or with one from another CA; the Elastic client polling over https:// with its own
// certificate; a renewed certificate picked up while the server runs,
// and a broken renewal logged with the old certificate kept.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import t from 'tap';
import type { TLSSocket } from 'node:tls';
import { createOpAMPClient } from '@elastic/opamp-client-node';
import { encodeAgentToServer, decodeServerToAgent } from '../../src/opamp/codec';
import { rawTarGz, SCRIPT } from '../fixtures/raw-tar';
import { waitFor } from '../helpers/private-postgres';
import { startServer, temporaryDirectory, uid } from '../helpers/server';
import { uidToString } from '../../src/opamp/codec';
import { agentMessage, captureLogs } from '../e2e/helpers';
import { asset, DISTRIBUTION, place } from './package-helpers';

// openssl and TLS handshakes on a busy machine take longer than tap's default.
t.setTimeout(300_000);

const openssl = (args: string[], cwd: string) => execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });

interface Pki {
  directory: string;
  ca: string;
  /** Issues a certificate signed by this CA; returns the cert and key paths. */
  issue(name: string, options?: { server?: boolean }): { cert: string; key: string };
}

function createCa(directory: string, name: string): Pki {
  fs.mkdirSync(directory, { recursive: true });
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`,
    '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`], directory);
  let serial = 0;
  return {
    directory,
    ca: path.join(directory, `${name}.pem`),
    issue: (subject, options = {}) => {
      serial += 1;
      const base = `${subject}-${serial}`;
      openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`,
        '-subj', `/O=opamp-test/CN=${subject}`], directory);
      const extensions = options.server
        ? 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n'
        : 'extendedKeyUsage=clientAuth\n';
      fs.writeFileSync(path.join(directory, `${base}.ext`), extensions);
      openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', `${name}.pem`, '-CAkey', `${name}.key`, '-set_serial', String(1000 + serial),
        '-days', '2', '-extfile', `${base}.ext`, '-out', `${base}.pem`], directory);
      return { cert: path.join(directory, `${base}.pem`), key: path.join(directory, `${base}.key`) };
    },
  };
}

interface Answer {
  status: number;
  body: Buffer;
  serial: string;
}

function request(url: string, options: https.RequestOptions & { body?: Buffer } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const call = https.request(url, { agent: false, ...options }, (response) => {
      const chunks: Buffer[] = [];
      const serial = (response.socket as TLSSocket).getPeerCertificate().serialNumber;
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks), serial }));
    });
    call.on('error', reject);
    call.end(options.body);
  });
}

const pollBody = (seed: number) => Buffer.from(encodeAgentToServer(agentMessage({ seed, version: '0.100.0' })));
const protobuf = { 'content-type': 'application/x-protobuf' };

const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

t.test('TLS', { skip: hasOpenssl ? false : 'needs the openssl command' }, async (t) => {
  const root = temporaryDirectory('opamp-tls-');
  const pki = createCa(path.join(root, 'pki'), 'test-ca');
  const otherPki = createCa(path.join(root, 'other'), 'other-ca');
  const serverFiles = pki.issue('server', { server: true });
  // The files the server is pointed at; renewals replace them by rename.
  const certPath = path.join(root, 'tls.crt');
  const keyPath = path.join(root, 'tls.key');
  fs.copyFileSync(serverFiles.cert, certPath);
  fs.copyFileSync(serverFiles.key, keyPath);
  const directory = path.join(root, 'releases');
  fs.mkdirSync(directory);
  place(directory, asset('0.200.0'), rawTarGz([{ path: DISTRIBUTION, body: SCRIPT }]));
  const ca = fs.readFileSync(pki.ca);

  await t.test('poll, download and admin over HTTPS; plain HTTP refused', async (t) => {
    const server = await startServer({ 'tls-cert': certPath, 'tls-key': keyPath, 'packages-dir': directory, offer: 'latest', 'allow-unsigned': true });
    t.teardown(() => server.close());
    t.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const polled = await request(`${server.url}/v1/opamp`, { method: 'POST', ca, headers: protobuf, body: pollBody(1) });
    t.equal(polled.status, 200);
    const url = decodeServerToAgent(polled.body).packagesAvailable?.packages?.['']?.file?.downloadUrl;
    t.match(url, new RegExp(`^${server.url}/v1/packages/`), 'the offered download URL says https');
    const download = await request(url!, { ca });
    t.equal(download.status, 200);
    t.same(download.body, fs.readFileSync(path.join(directory, asset('0.200.0'))), 'the download over TLS is the file');
    const agents = await request(`${server.url}/api/v1/agents`, { ca });
    t.equal(agents.status, 200, 'the admin API answers over TLS');
    const plain = await new Promise<string>((resolve) => {
      http.get(server.url.replace('https:', 'http:') + '/api/status', (response) => resolve(`HTTP ${response.statusCode}`))
        .on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    });
    t.notMatch(plain, /^HTTP 2/, `plain HTTP on the TLS port gets no answer (${plain})`);
    await t.rejects(request(`${server.url}/api/status`, {}), 'a client that does not trust the CA refuses the server');
    await t.rejects(request(`${server.url}/api/status`, { ca, maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }), 'TLS 1.1 is refused');
  });

  await t.test('mutual TLS: required and optional', async (t) => {
    const client = pki.issue('agent-7');
    const stranger = otherPki.issue('agent-x');
    const withCert = (files: { cert: string; key: string }) => ({ ca, cert: fs.readFileSync(files.cert), key: fs.readFileSync(files.key) });
    const logs = captureLogs();
    const required = await startServer({ 'tls-cert': certPath, 'tls-key': keyPath, 'tls-client-ca': pki.ca }, { logger: logs.logger });
    t.teardown(() => required.close());
    const ok = await request(`${required.url}/v1/opamp`, { method: 'POST', headers: protobuf, body: pollBody(2), ...withCert(client) });
    t.equal(ok.status, 200, 'a client certificate from the CA is let in');
    const agentUid = uidToString(uid(2));
    const seen = logs.lines.filter((line) => line.instanceUid === agentUid && line.clientCertificateSubject !== undefined);
    t.same(seen.map((line) => line.clientCertificateSubject), ['O=opamp-test, CN=agent-7'], 'the subject is logged with the first poll');
    const detail = await request(`${required.url}/api/v1/agents/${agentUid}`, withCert(client));
    t.equal(JSON.parse(detail.body.toString()).client_certificate_subject, 'O=opamp-test, CN=agent-7', 'and shown in the agent view');
    const again = await request(`${required.url}/v1/opamp`, {
      method: 'POST', headers: protobuf, body: Buffer.from(encodeAgentToServer(agentMessage({ seed: 2, version: '0.100.0' }, 1))), ...withCert(client),
    });
    t.equal(again.status, 200);
    t.equal(logs.lines.filter((line) => line.clientCertificateSubject !== undefined).length, 1, 'not logged again for the next poll');
    await t.rejects(request(`${required.url}/api/status`, { ca }), 'no client certificate: refused');
    await t.rejects(request(`${required.url}/api/status`, withCert(stranger)), 'a certificate from another CA: refused');

    const optional = await startServer({ 'tls-cert': certPath, 'tls-key': keyPath, 'tls-client-ca': pki.ca, 'tls-client-auth': 'optional' });
    t.teardown(() => optional.close());
    t.equal((await request(`${optional.url}/api/status`, { ca })).status, 200, 'optional: no certificate is let in');
    t.equal((await request(`${optional.url}/api/status`, withCert(client))).status, 200);
    const bare = await request(`${optional.url}/v1/opamp`, { method: 'POST', headers: protobuf, body: pollBody(3), ca });
    t.equal(bare.status, 200);
    const bareDetail = await request(`${optional.url}/api/v1/agents/${uidToString(uid(3))}`, { ca });
    t.equal(JSON.parse(bareDetail.body.toString()).client_certificate_subject, null, 'no certificate: null in the agent view');
    await t.rejects(request(`${optional.url}/api/status`, withCert(stranger)), 'optional: a certificate that does not verify is still refused');
  });

  await t.test('@elastic/opamp-client-node polls over https:// with mutual TLS', async (t) => {
    const logs = captureLogs();
    const server = await startServer({ 'tls-cert': certPath, 'tls-key': keyPath, 'tls-client-ca': pki.ca }, { logger: logs.logger });
    t.teardown(() => server.close());
    const problems: unknown[] = [];
    const quiet = () => undefined;
    const record = (level: string) => (...args: unknown[]) => problems.push({ level, args });
    const log = { trace: quiet, debug: quiet, info: quiet, warn: record('warn'), error: record('error'), fatal: record('fatal') };
    const files = pki.issue('node-app');
    const client = createOpAMPClient({
      endpoint: `${server.url}/v1/opamp`,
      log: { ...log, child: () => log } as never, // the client's logger type is pino-shaped; ours records calls
      heartbeatIntervalSeconds: 0.2,
      // The client's undici connect options: trust the test CA and present the agent's certificate.
      connect: { ca: fs.readFileSync(pki.ca), cert: fs.readFileSync(files.cert), key: fs.readFileSync(files.key) },
    });
    client.setAgentDescription({ identifyingAttributes: { 'service.name': 'node-app', 'service.version': '1.2.3' } });
    // Start-up warnings (such as "no agent key exists") are about configuration, not this client.
    const startupLines = logs.lines.length;
    client.start();
    try {
      await waitFor(async () => ((await server.store.listAgents({ limit: 1 }))[0]?.sequenceNum ?? 0) >= 5 || undefined, 60_000, 'five polls');
    } finally {
      await client.shutdown();
    }
    t.same(problems, [], 'the client logged no warning or error');
    t.same(logs.lines.slice(startupLines).filter((line) => Number(line.level) >= 40 || line.code !== undefined), [], 'the server refused nothing');
    const [agent] = await server.store.listAgents({ limit: 1 });
    t.same(agent?.description?.identifying, { 'service.name': 'node-app', 'service.version': '1.2.3' });
    t.equal(agent?.clientCertificateSubject, 'O=opamp-test, CN=node-app', 'its certificate subject is on the record');
  });

  await t.test('renewal by rename is picked up while running; a broken pair keeps the old one', async (t) => {
    const logs = captureLogs();
    const server = await startServer({ 'tls-cert': certPath, 'tls-key': keyPath }, { logger: logs.logger });
    t.teardown(() => server.close());
    const before = (await request(`${server.url}/api/status`, { ca })).serial;
    const renewed = pki.issue('server', { server: true });
    // What an ACME client does: write beside, rename over.
    fs.copyFileSync(renewed.key, `${keyPath}.new`);
    fs.renameSync(`${keyPath}.new`, keyPath);
    fs.copyFileSync(renewed.cert, `${certPath}.new`);
    fs.renameSync(`${certPath}.new`, certPath);
    const after = await waitFor(async () => {
      const serial = (await request(`${server.url}/api/status`, { ca })).serial;
      return serial !== before ? serial : undefined;
    }, 20_000, 'the renewed certificate served');
    t.not(after, before, `new connections get the renewed certificate (${before} -> ${after})`);

    // A key that does not belong to the certificate: refused, logged, the last good pair stays.
    const mismatched = pki.issue('server', { server: true });
    fs.copyFileSync(mismatched.key, keyPath);
    await waitFor(() => logs.lines.some((line) => /cannot be used/.test(String(line.msg))), 20_000, 'the refusal logged');
    t.match(logs.lines.find((line) => /cannot be used/.test(String(line.msg)))?.msg, /does not belong to the certificate/);
    const still = await request(`${server.url}/api/status`, { ca });
    t.equal(still.status, 200);
    t.equal(still.serial, after, 'the previous certificate stays in use');
  });

  await t.test('bad TLS options stop the start, naming them', async (t) => {
    await t.rejects(startServer({ 'tls-cert': certPath }), /--tls-cert and --tls-key go together/);
    await t.rejects(startServer({ 'tls-cert': certPath, 'tls-key': path.join(root, 'missing.key') }), /cannot read the key/);
    await t.rejects(startServer({ 'tls-min-version': 'TLSv1.0' }), /invalid --tls-min-version/);
  });
});
