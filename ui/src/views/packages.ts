// Packages: every catalog file with its verdict, the signer's identity and issuer, the method
// (bundle or cosign pair) and why a file is not offered; then the files a source refused.
import { html } from 'htm/preact';
import { api } from '../api';
import { Badge, time } from '../components';
import { Freshness, useLive } from '../live';
import type { PackageList } from '../types';


export function Packages() {
  const live = useLive(() => api<PackageList>('GET', 'v1/packages'), 'packages');
  const catalog = live.data;
  return html`<section><h1>Packages</h1><${Freshness} live=${live} />
    ${catalog && !catalog.configured ? html`<p>No catalog is configured (<code>--packages-dir</code> or <code>--releases</code>).</p>` : null}
    ${catalog ? html`<div class="table-wrap" tabindex="0" role="region" aria-label="Packages"><table id="packages-table">
      <caption>${catalog.packages.length} file(s) in the catalog, ${catalog.rejected.length} refused by their source</caption>
      <thead><tr><th scope="col">File</th><th scope="col">Version</th><th scope="col">Platform</th><th scope="col">Verdict</th>
        <th scope="col">Method</th><th scope="col">Signer identity</th><th scope="col">Issuer</th><th scope="col">Reason</th></tr></thead>
      <tbody>
        ${catalog.packages.map((file) => html`<tr data-file=${file.file_name}>
          <td><code>${file.file_name}</code></td><td>${file.version}</td><td>${file.os}/${file.arch}</td>
          <td><${Badge} state=${file.offerable ? 'offerable' : 'rejected'} /></td>
          <td>${file.signature ? `${file.signature.method}${file.signature.weaker_check ? ' (no transparency-log time)' : ''}` : '—'}</td>
          <td>${file.signature?.signer_identity ?? '—'}</td><td>${file.signature?.signer_issuer ?? '—'}</td>
          <td>${file.reason ?? file.signature?.reason ?? ''}</td></tr>`)}
        ${catalog.rejected.map((file) => html`<tr data-file=${file.file_name}>
          <td><code>${file.file_name}</code></td><td>${file.version}</td><td>${file.os}/${file.arch}</td>
          <td><${Badge} state="rejected" /></td><td>—</td><td>—</td><td>—</td><td>${file.reason} (${time(file.at)})</td></tr>`)}
      </tbody></table></div>` : null}
  </section>`;
}
