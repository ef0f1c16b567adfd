// Every platform the collector releases are built for, through the real server: release assets
// named as goreleaser names them are accepted from the release directory, and an agent is
// offered the one for its host.arch however it spells it (Go's GOARCH, the semantic
// conventions' values, uname's).
import t from 'tap';
import { createSigstoreWorld } from '../fixtures/sigstore-world';
import { call } from '../admin/helpers';
import { poll } from '../helpers/server';
import { agentMessage, nextSeed, offerFor, placePackage, releaseDirectory, startPackageServer } from './helpers';

/** os/arch of the assets placed, as goreleaser names them. */
const ASSETS = [
  'linux/amd64', 'linux/arm64', 'linux/armv7', 'linux/386', 'linux/ppc64le', 'linux/s390x', 'darwin/arm64', 'windows/amd64',
];

/** What agents report as host.arch, and the asset arch each must be offered. */
const REPORTED: Array<[os: string, hostArch: string, assetArch: string]> = [
  ['linux', 'amd64', 'amd64'],
  ['linux', 'x86_64', 'amd64'],
  ['linux', 'arm64', 'arm64'],
  ['linux', 'aarch64', 'arm64'],
  ['linux', 'arm', 'armv7'],
  ['linux', 'arm32', 'armv7'],
  ['linux', 'ARM', 'armv7'],
  ['linux', '386', '386'],
  ['linux', 'x86', '386'],
  ['linux', 'ppc64le', 'ppc64le'],
  ['linux', 'ppc64', 'ppc64le'],
  ['linux', 's390x', 's390x'],
  ['darwin', 'arm64', 'arm64'],
  ['windows', 'amd64', 'amd64'],
  ['windows', 'x86_64', 'amd64'],
];

t.test('release assets for every published platform', async (t) => {
  const world = await createSigstoreWorld();
  const { directory, rootPath } = await releaseDirectory(world);
  for (const asset of ASSETS) {
    const [os, arch] = asset.split('/') as [string, string];
    await placePackage(world, directory, { version: '0.112.0', os, arch });
  }
  const server = await startPackageServer(t, rootPath, directory, { offer: 'latest' });

  t.test('are all offerable', async (t) => {
    const listing = await call(server.url, 'GET', '/api/v1/packages');
    t.equal(listing.status, 200);
    const offerable = (listing.body.packages as Array<{ os: string; arch: string; offerable: boolean }>)
      .filter((item) => item.offerable)
      .map((item) => `${item.os}/${item.arch}`);
    t.same(offerable.sort(), [...ASSETS].sort());
  });

  t.test('each host.arch spelling is offered its asset', async (t) => {
    for (const [os, hostArch, assetArch] of REPORTED) {
      const offer = await offerFor(server, { seed: nextSeed(), version: '0.111.0', os, arch: hostArch });
      t.equal(
        offer?.file?.downloadUrl?.split('/').pop(),
        `otelcol-contrib_0.112.0_${os}_${assetArch}.tar.gz`,
        `${os} ${hostArch} is offered ${os}/${assetArch}`,
      );
    }
  });

  t.test('no asset, no offer', async (t) => {
    t.equal(await offerFor(server, { seed: nextSeed(), version: '0.111.0', os: 'darwin', arch: 'amd64' }), undefined, 'no darwin/amd64 asset');
    t.equal(await offerFor(server, { seed: nextSeed(), version: '0.111.0', os: 'linux', arch: 'mips64' }), undefined, 'no mips64 asset');
    t.equal(await offerFor(server, { seed: nextSeed(), version: '0.111.0', os: 'linux', arch: 'constructor' }), undefined, 'an arch named like an object property');
  });

  t.test('the agent listing filters by any spelling of an arch', async (t) => {
    // Agents of their own distribution, so that the listing holds only these.
    const spellings = ['arm', 'arm32', 'armv7', 'x86_64', 'amd64', 'x86'];
    for (const arch of spellings) {
      const answer = await poll(server.url, agentMessage({ seed: nextSeed(), distribution: 'otelcol-arch-filter', os: 'linux', arch }));
      t.equal(answer.status, 200);
    }
    const listed = async (arch: string): Promise<string[]> => {
      const page = await call(server.url, 'GET', `/api/v1/agents?distribution=otelcol-arch-filter&arch=${arch}`);
      t.equal(page.status, 200, `arch=${arch}`);
      return (page.body.agents as Array<{ arch: string }>).map((agent) => agent.arch);
    };
    t.same(await listed('arm'), ['armv7', 'armv7', 'armv7'], 'arm, arm32 and armv7 are one arch, shown as the asset names it');
    t.same(await listed('armv7'), ['armv7', 'armv7', 'armv7']);
    t.same(await listed('amd64'), ['amd64', 'amd64']);
    t.same(await listed('386'), ['386']);
  });
});
