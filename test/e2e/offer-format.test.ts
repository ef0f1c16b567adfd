// The offer as the supervisor reads it, byte for byte, and a check of the offered signature that
// owes nothing to the sigstore libraries: openssl, as an operator would run it.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { decodeServerToAgent } from '../../src/opamp/codec';
import { createSigstoreWorld, DEFAULT_TEST_IDENTITY, DEFAULT_TEST_ISSUER, DEFAULT_TEST_REPOSITORY } from '../fixtures/sigstore-world';
import { poll, temporaryDirectory } from '../helpers/server';
import { agentMessage, hex, nextSeed, offerFor, placePackage, releaseDirectory, startPackageServer } from './helpers';

t.test('offer format', async (t) => {
  const world = await createSigstoreWorld();
  const { directory, rootPath } = await releaseDirectory(world);
  const bundled = await placePackage(world, directory, { version: '0.111.0' });
  const paired = await placePackage(world, directory, { version: '0.111.0', arch: 'arm64', signing: 'pair' });

  t.test('exactly the supervisor format, cosign signature by default', async (t) => {
    const server = await startPackageServer(t, rootPath, directory, { offer: 'latest' });
    const answer = await poll(server.url, agentMessage({ seed: nextSeed(), version: '0.110.0' }));
    const available = answer.message?.packagesAvailable;
    t.same(Object.keys(available?.packages ?? {}), [''], 'one package, with the empty name');
    const offered = available?.packages?.[''];
    t.equal(offered?.type, 0, 'TopLevel');
    t.equal(offered?.version, 'v0.111.0');
    t.equal(offered?.file?.downloadUrl, `${server.url}/v1/packages/${bundled.sha256Hex}/${bundled.fileName}`, 'absolute URL');
    t.equal(hex(offered?.file?.contentHash), bundled.sha256Hex, 'raw sha256 of the tarball');
    t.equal(offered?.file?.contentHash?.length, 32);
    const signature = Buffer.from(offered?.file?.signature ?? []).toString('utf8');
    const [certificate, signatureBytes, ...rest] = signature.split(' ');
    t.same(rest, [], 'two space-separated parts');
    t.match(Buffer.from(certificate ?? '', 'base64').toString('utf8'), /^-----BEGIN CERTIFICATE-----/);
    t.ok(Buffer.from(signatureBytes ?? '', 'base64').length > 0);
    t.equal(offered?.hash?.length, 32, 'a package hash');
    t.equal(available?.allPackagesHash?.length, 32, 'an all-packages hash');
  });

  t.test('--signature-format bundle offers the bundle JSON', async (t) => {
    const server = await startPackageServer(t, rootPath, directory, { offer: 'latest', 'signature-format': 'bundle' });
    const offered = await offerFor(server, { seed: nextSeed(), version: '0.110.0' });
    const signature = Buffer.from(offered?.file?.signature ?? []);
    t.same(signature, readFileSync(path.join(directory, `${bundled.fileName}.sigstore.json`)), 'the bundle file as it is');
    t.match(JSON.parse(signature.toString('utf8')), { mediaType: /^application\/vnd\.dev\.sigstore\.bundle/ });
  });

  t.test('hashes are the same on every instance and for every agent', async (t) => {
    const first = await startPackageServer(t, rootPath, directory, { offer: 'latest', 'public-url': 'https://one.example/opamp' });
    const second = await startPackageServer(t, rootPath, directory, { offer: 'latest', 'public-url': 'http://two.example:8080' });
    const offers = [
      await offerFor(first, { seed: nextSeed(), version: '0.110.0' }),
      await offerFor(first, { seed: nextSeed(), version: '0.100.0' }),
      await offerFor(second, { seed: nextSeed(), version: '0.110.0' }),
    ];
    t.equal(offers[0]?.file?.downloadUrl, `https://one.example/opamp/v1/packages/${bundled.sha256Hex}/${bundled.fileName}`);
    t.equal(offers[2]?.file?.downloadUrl, `http://two.example:8080/v1/packages/${bundled.sha256Hex}/${bundled.fileName}`);
    t.equal(new Set(offers.map((offer) => hex(offer?.hash))).size, 1, 'one package hash');
    const allHashes = [];
    for (const server of [first, second]) {
      const answer = await poll(server.url, agentMessage({ seed: nextSeed(), version: '0.110.0' }));
      allHashes.push(hex(answer.message?.packagesAvailable?.allPackagesHash));
    }
    t.equal(allHashes[0], allHashes[1], 'one all_packages_hash');
    const pairOffer = await offerFor(first, { seed: nextSeed(), version: '0.110.0', arch: 'arm64' });
    t.not(hex(pairOffer?.hash), hex(offers[0]?.hash), 'another artifact hashes differently');
  });

  t.test('the offered cosign signature passes an independent openssl check', async (t) => {
    const server = await startPackageServer(t, rootPath, directory, { offer: 'latest' });
    const scratch = temporaryDirectory('opamp-openssl-');
    for (const [arch, placed] of [['amd64', bundled], ['arm64', paired]] as const) {
      const offered = await offerFor(server, { seed: nextSeed(), version: '0.110.0', arch });
      const wire = Buffer.from(offered?.file?.signature ?? []).toString('utf8');
      const space = wire.indexOf(' ');
      t.ok(space > 0, `${arch}: two halves`);
      const certificateFile = path.join(scratch, `${arch}.pem`);
      const signatureFile = path.join(scratch, `${arch}.sig`);
      const publicKeyFile = path.join(scratch, `${arch}.pub`);
      const tarballFile = path.join(scratch, `${arch}.tar.gz`);
      writeFileSync(certificateFile, Buffer.from(wire.slice(0, space), 'base64'));
      writeFileSync(signatureFile, Buffer.from(wire.slice(space + 1), 'base64'));
      // The bytes checked are the ones the server hands out, not the file on its disk.
      const download = await fetch(offered?.file?.downloadUrl ?? '');
      writeFileSync(tarballFile, Buffer.from(await download.arrayBuffer()));
      t.equal(placed.sha256Hex, hex(offered?.file?.contentHash));

      const text = execFileSync('openssl', ['x509', '-in', certificateFile, '-noout', '-text'], { encoding: 'utf8' });
      t.match(text, `URI:${DEFAULT_TEST_IDENTITY}`, `${arch}: SAN is the policy's`);
      t.match(text, new RegExp(`1\\.3\\.6\\.1\\.4\\.1\\.57264\\.1\\.1:\\s*\\n\\s*${DEFAULT_TEST_ISSUER.replace(/[./]/g, '\\$&')}`));
      t.match(text, new RegExp(`1\\.3\\.6\\.1\\.4\\.1\\.57264\\.1\\.5:\\s*\\n\\s*${DEFAULT_TEST_REPOSITORY.replace(/[./]/g, '\\$&')}`));
      execFileSync('openssl', ['x509', '-in', certificateFile, '-noout', '-pubkey', '-out', publicKeyFile]);
      const verified = execFileSync('openssl', ['dgst', '-sha256', '-verify', publicKeyFile, '-signature', signatureFile, tarballFile], {
        encoding: 'utf8',
      });
      t.match(verified, /Verified OK/, `${arch}: openssl accepts the signature over the tarball`);
    }
  });

  t.test('an offer larger than --max-response-bytes is a 500 with an error, not a cut answer', async (t) => {
    const server = await startPackageServer(t, rootPath, directory, { offer: 'latest', 'max-response-bytes': '64' });
    const answer = await poll(server.url, agentMessage({ seed: nextSeed(), version: '0.110.0' }));
    t.equal(answer.status, 500);
    const message = decodeServerToAgent(answer.body);
    t.notOk(message.packagesAvailable);
    t.match(message.errorResponse?.errorMessage, /larger than the server is allowed to send/);
    // Without an offer the same limit is enough for an ordinary answer.
    const quiet = await poll(server.url, agentMessage({ seed: nextSeed(), version: '0.111.0' }));
    t.equal(quiet.status, 200);
  });
});
