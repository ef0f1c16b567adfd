// Whole upgrades through the real server, driven by the supervisor-like agent: who is offered
// what, exactly once, and who is never offered anything.
import pino from 'pino';
import t from 'tap';
import { buildApp } from '../../src/app';
import { PackageStatusCode } from '../../src/agents/package-status';
import { uidToString } from '../../src/opamp/codec';
import { createSigstoreWorld } from '../fixtures/sigstore-world';
import { poll, testConfig } from '../helpers/server';
import { SupervisorAgent } from '../helpers/supervisor-agent';
import {
  NO_PACKAGES,
  agentMessage,
  hex,
  nextSeed,
  offerFor,
  placePackage,
  releaseDirectory,
  startPackageServer,
  topLevel,
} from './helpers';

t.test('upgrades', async (t) => {
  const world = await createSigstoreWorld();
  const { directory, rootPath } = await releaseDirectory(world);
  const v111 = await placePackage(world, directory, { version: '0.111.0' });
  const v112 = await placePackage(world, directory, { version: '0.112.0', signing: 'pair' });
  await placePackage(world, directory, { version: '0.112.0', arch: 'arm64' });
  await placePackage(world, directory, { version: '0.111.0', distribution: 'otelcol' });

  t.test('a supervisor upgrades once and is never offered it again', async (t) => {
    const server = await startPackageServer(t, rootPath, directory, { offer: 'latest' });
    const agent = new SupervisorAgent({ serverUrl: server.url, version: '0.110.0' });
    await agent.runUntil((a) => a.currentVersion === '0.112.0' && !a.installing, { maxPolls: 20 });
    t.equal(agent.offersReceived, 1, 'offered once');
    t.equal(agent.downloads, 1, 'downloaded once');
    t.same(agent.errors, [], 'no error on the way');
    const statuses = agent.statusesSent.map((status) => status.status);
    t.same(statuses, [
      PackageStatusCode.Downloading,
      PackageStatusCode.Downloading,
      PackageStatusCode.Installing,
      PackageStatusCode.Installed,
    ]);
    t.equal(agent.statusesSent[3]?.agentHasVersion, 'v0.112.0');

    for (let index = 0; index < 40; index += 1) await agent.poll();
    t.equal(agent.offersReceived, 1, 'still offered only once after 40 more polls');
    t.equal(agent.downloads, 1);
    t.same(agent.errors, []);

    const stored = await server.store.getAgent(uidToString(agent.instanceUid));
    t.equal(stored?.packageStatuses?.packages['']?.status, PackageStatusCode.Installed, 'the server saw Installed');
    t.equal(stored?.packageStatuses?.packages['']?.agentHasVersion, 'v0.112.0');
  });

  t.test('a restarted server does not resend an offer it already sent', async (t) => {
    const config = testConfig({ 'packages-dir': directory, 'trusted-root': rootPath, 'trusted-root-refresh': false, offer: 'latest' });
    // Each instance listens on the port the previous one had, so the agents keep their URL.
    let port = 0;
    const restart = async () => {
      const built = await buildApp(config, { logger: pino({ level: 'silent' }) });
      const url = await built.app.listen({ host: '127.0.0.1', port });
      port = Number(new URL(url).port);
      t.teardown(() => built.app.close());
      return { url, close: () => built.app.close() };
    };
    const first = await restart();
    const agent = { seed: nextSeed(), version: '0.110.0' };
    t.ok((await poll(first.url, agentMessage(agent, 0))).message?.packagesAvailable, 'offered before the restart');
    await first.close();
    const second = await restart();
    const after = await poll(second.url, agentMessage(agent, 1));
    t.equal(after.status, 200);
    t.notOk(after.message?.flags, 'in sequence: no full state asked');
    t.notOk(after.message?.packagesAvailable, 'not offered again after the restart');

    const supervisor = new SupervisorAgent({ serverUrl: second.url, version: '0.110.0' });
    await supervisor.runUntil((a) => a.currentVersion === '0.112.0' && !a.installing, { maxPolls: 20 });
    await second.close();
    await restart();
    for (let index = 0; index < 10; index += 1) await supervisor.poll();
    t.equal(supervisor.offersReceived, 1, 'one offer across two restarts');
    t.same(supervisor.errors, []);
  });

  t.test('an install failure is reported and not retried in a loop', async (t) => {
    const server = await startPackageServer(t, rootPath, directory, { offer: 'latest' });
    const agent = new SupervisorAgent({ serverUrl: server.url, version: '0.110.0', failInstall: 'disk full' });
    await agent.runUntil((a) => a.statusesSent.some((status) => status.status === PackageStatusCode.InstallFailed), {
      maxPolls: 20,
    });
    for (let index = 0; index < 20; index += 1) await agent.poll();
    t.equal(agent.offersReceived, 1, 'the same offer is not pushed again after a failure');
    t.equal(agent.currentVersion, '0.110.0');
  });

  t.test('--offer latest, an exact version, or none', async (t) => {
    const latest = await startPackageServer(t, rootPath, directory, { offer: 'latest' });
    const exact = await startPackageServer(t, rootPath, directory, { offer: '0.111.0' });
    const exactWithV = await startPackageServer(t, rootPath, directory, { offer: 'v0.111.0' });
    const none = await startPackageServer(t, rootPath, directory, { offer: 'none' });
    const unset = await startPackageServer(t, rootPath, directory);
    const agent = { seed: nextSeed(), version: '0.110.0' };
    const newest = await offerFor(latest, agent);
    t.equal(newest?.version, 'v0.112.0');
    t.equal(hex(newest?.file?.contentHash), v112.sha256Hex);
    const pinned = await offerFor(exact, { ...agent, seed: nextSeed() });
    t.equal(pinned?.version, 'v0.111.0');
    t.equal(hex(pinned?.file?.contentHash), v111.sha256Hex);
    t.equal((await offerFor(exactWithV, { ...agent, seed: nextSeed() }))?.version, 'v0.111.0');
    t.equal(await offerFor(none, { ...agent, seed: nextSeed() }), undefined);
    t.equal(await offerFor(unset, { ...agent, seed: nextSeed() }), undefined, 'no --offer: none');

    const missing = await startPackageServer(t, rootPath, directory, { offer: '0.150.0' });
    t.equal(await offerFor(missing, { ...agent, seed: nextSeed() }), undefined, 'a version with no artifact');
  });

  t.test('never the running version nor a lower one', async (t) => {
    const latest = await startPackageServer(t, rootPath, directory, { offer: 'latest' });
    const exact = await startPackageServer(t, rootPath, directory, { offer: '0.111.0' });
    t.equal(await offerFor(latest, { seed: nextSeed(), version: '0.112.0' }), undefined, 'same version');
    t.equal(await offerFor(latest, { seed: nextSeed(), version: 'v0.112.0' }), undefined, 'same version with v');
    t.equal(await offerFor(latest, { seed: nextSeed(), version: '0.113.0' }), undefined, 'newer agent');
    t.equal(await offerFor(exact, { seed: nextSeed(), version: '0.111.0' }), undefined, 'same exact version');
    t.equal(await offerFor(exact, { seed: nextSeed(), version: '0.112.0' }), undefined, 'no downgrade');
    t.equal((await offerFor(latest, { seed: nextSeed(), version: 'v0.111.0' }))?.version, 'v0.112.0');
    t.equal((await offerFor(latest, { seed: nextSeed() }))?.version, 'v0.112.0', 'no version reported');
  });

  t.test('platform and distribution must match an artifact', async (t) => {
    const server = await startPackageServer(t, rootPath, directory, { offer: 'latest' });
    const base = { version: '0.100.0' };
    t.equal(await offerFor(server, { ...base, seed: nextSeed(), os: 'windows' }), undefined, 'no windows build');
    t.equal(await offerFor(server, { ...base, seed: nextSeed(), arch: 'ppc64le' }), undefined, 'no ppc64le build');
    t.equal(await offerFor(server, { ...base, seed: nextSeed(), distribution: 'otelcol-k8s' }), undefined);
    const arm = await offerFor(server, { ...base, seed: nextSeed(), arch: 'aarch64' });
    t.match(arm?.file?.downloadUrl, /otelcol-contrib_0\.112\.0_linux_arm64\.tar\.gz$/, 'aarch64 is arm64');
    const core = await offerFor(server, { ...base, seed: nextSeed(), distribution: 'otelcol' });
    t.match(core?.file?.downloadUrl, /otelcol_0\.111\.0_linux_amd64\.tar\.gz$/);

    const agent = new SupervisorAgent({ serverUrl: server.url, version: '0.110.0', os: 'darwin', arch: 'arm64' });
    for (let index = 0; index < 10; index += 1) await agent.poll();
    t.equal(agent.offersReceived, 0);
    t.same(agent.errors, []);
  });

  t.test('only agents that accept packages get packages_available', async (t) => {
    const server = await startPackageServer(t, rootPath, directory, { offer: 'latest' });
    const refuser = new SupervisorAgent({ serverUrl: server.url, version: '0.110.0', acceptsPackages: false });
    for (let index = 0; index < 10; index += 1) await refuser.poll();
    t.equal(refuser.received.filter((answer) => answer.packagesAvailable).length, 0);

    const dropper = { seed: nextSeed(), version: '0.110.0' };
    const first = await poll(server.url, agentMessage(dropper, 0));
    t.equal(topLevel(first.message)?.version, 'v0.112.0', 'offered while it accepts packages');
    const second = await poll(server.url, agentMessage(dropper, 1, { capabilities: NO_PACKAGES }));
    t.notOk(second.message?.packagesAvailable, 'dropped AcceptsPackages: no offer');
    const withStatus = await poll(
      server.url,
      agentMessage(dropper, 2, {
        capabilities: NO_PACKAGES,
        packageStatuses: { serverProvidedAllPackagesHash: Buffer.alloc(32, 1), packages: {} },
      }),
    );
    t.notOk(withStatus.message?.packagesAvailable, 'not even when its reported hash differs');
    const full = await poll(server.url, agentMessage(dropper, 9, { capabilities: NO_PACKAGES }));
    t.ok(full.message?.flags, 'out of sequence: full state asked');
    t.notOk(full.message?.packagesAvailable, 'not even on a full-state exchange');
  });

  t.test('the offer is resent only when the agent reports another all_packages_hash', async (t) => {
    const server = await startPackageServer(t, rootPath, directory, { offer: 'latest' });
    const agent = { seed: nextSeed(), version: '0.110.0' };
    const first = await poll(server.url, agentMessage(agent, 0));
    const offered = first.message?.packagesAvailable;
    t.ok(offered, 'a new agent is offered');
    const again = await poll(server.url, agentMessage(agent, 1));
    t.notOk(again.message?.packagesAvailable, 'same offer, nothing reported: not resent');
    const other = await poll(
      server.url,
      agentMessage(agent, 2, { packageStatuses: { serverProvidedAllPackagesHash: Buffer.alloc(32, 7), packages: {} } }),
    );
    t.equal(hex(other.message?.packagesAvailable?.allPackagesHash), hex(offered?.allPackagesHash), 'other hash: resent');
    const same = await poll(
      server.url,
      agentMessage(agent, 3, { packageStatuses: { serverProvidedAllPackagesHash: offered?.allPackagesHash, packages: {} } }),
    );
    t.notOk(same.message?.packagesAvailable, 'matching hash: not resent');
  });
});
