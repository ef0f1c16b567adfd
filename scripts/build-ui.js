// Bundles the web console (ui/) into dist/ui with esbuild: one script, one style sheet and the
// page, all served by the server itself, nothing from a CDN. Part of `npm run build`.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const esbuild = require('esbuild');

const root = path.join(__dirname, '..');
const out = path.join(root, 'dist', 'ui');

async function main() {
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(out, { recursive: true });
  await esbuild.build({
    entryPoints: [path.join(root, 'ui', 'src', 'main.ts')],
    outfile: path.join(out, 'console.js'),
    bundle: true,
    minify: true,
    sourcemap: 'linked',
    format: 'iife',
    target: ['chrome120', 'firefox120', 'safari17'],
    legalComments: 'linked',
    logLevel: 'warning',
  });
  for (const file of ['index.html', 'console.css', 'favicon.svg']) {
    fs.copyFileSync(path.join(root, 'ui', file), path.join(out, file));
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
