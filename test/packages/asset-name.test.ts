import t from 'tap';
import {
  executableName,
  formatAssetName,
  parseAssetName,
  parseSidecarName,
  sidecarNames,
} from '../../src/packages/asset-name';

t.test('parses release asset names', async (t) => {
  t.same(parseAssetName('otelcol-contrib_0.111.0_linux_amd64.tar.gz'), {
    distribution: 'otelcol-contrib',
    version: '0.111.0',
    os: 'linux',
    arch: 'amd64',
  });
  t.same(parseAssetName('otelcol_0.111.0_darwin_arm64.tar.gz'), {
    distribution: 'otelcol',
    version: '0.111.0',
    os: 'darwin',
    arch: 'arm64',
  });
  t.same(parseAssetName('otelcol-k8s_v0.112.0-rc.1_linux_ppc64le.tar.gz'), {
    distribution: 'otelcol-k8s',
    version: '0.112.0-rc.1',
    os: 'linux',
    arch: 'ppc64le',
  });
  t.same(parseAssetName('my_custom.collector_1.2.3+build.7_windows_386.tar.gz'), {
    distribution: 'my_custom.collector',
    version: '1.2.3+build.7',
    os: 'windows',
    arch: '386',
  });
});

t.test('refuses anything else', async (t) => {
  const bad = [
    'otelcol-contrib_0.111.0_linux_amd64.zip',
    'otelcol-contrib_0.111.0_linux_amd64.tar',
    'otelcol-contrib_0.111_linux_amd64.tar.gz',
    'otelcol-contrib_01.2.3_linux_amd64.tar.gz',
    'otelcol-contrib_latest_linux_amd64.tar.gz',
    'otelcol-contrib_0.111.0_linux.tar.gz',
    '_0.111.0_linux_amd64.tar.gz',
    '.hidden_0.111.0_linux_amd64.tar.gz',
    'otelcol-contrib_ 0.111.0_linux_amd64.tar.gz',
    'otelcol-contrib_vv0.111.0_linux_amd64.tar.gz',
    'otelcol-contrib_0.111.0_Linux_amd64.tar.gz',
    'otelcol contrib_0.111.0_linux_amd64.tar.gz',
    'otelcol-contrib_0.111.0_linux_amd64.tar.gz.sig',
    '',
  ];
  for (const name of bad) t.equal(parseAssetName(name), undefined, name);
});

t.test('formats names back', async (t) => {
  const asset = { distribution: 'otelcol', version: '0.111.0', os: 'linux', arch: 'arm64' };
  t.equal(formatAssetName(asset), 'otelcol_0.111.0_linux_arm64.tar.gz');
  t.same(parseAssetName(formatAssetName(asset)), asset);
});

t.test('recognises sidecars', async (t) => {
  const tarball = 'otelcol-contrib_0.111.0_linux_amd64.tar.gz';
  t.same(sidecarNames(tarball), {
    bundle: `${tarball}.sigstore.json`,
    certificate: `${tarball}.pem`,
    signature: `${tarball}.sig`,
  });
  t.match(parseSidecarName(`${tarball}.sigstore.json`), { tarballName: tarball, kind: 'bundle' });
  t.match(parseSidecarName(`${tarball}.pem`), { tarballName: tarball, kind: 'certificate' });
  t.match(parseSidecarName(`${tarball}.sig`), { tarballName: tarball, kind: 'signature' });
  t.equal(parseSidecarName('notes.txt.sig'), undefined);
  t.equal(parseSidecarName(`${tarball}.asc`), undefined);
  t.equal(parseSidecarName(tarball), undefined);
});

t.test('executable names', async (t) => {
  t.equal(executableName('otelcol-contrib', 'linux'), 'otelcol-contrib');
  t.equal(executableName('otelcol-contrib', 'windows'), 'otelcol-contrib.exe');
});
