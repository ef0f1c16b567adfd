// Takes the README's screenshots of the web console again (docs/images/console-*.png), from a
// real server with simulated agents in Debian's chromium:
//
//   npm run build && node scripts/console-screenshots.js
//
// The work is in test/console/readme-screenshots.ts, beside the fleet the console's tests use; this
// bundles it with esbuild (already the console's bundler) into dist/, where it finds the built
// console the way the server does, and runs it. Each image should stay under about 150 KB.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const esbuild = require('esbuild');

const root = path.join(__dirname, '..');
const bundle = path.join(root, 'dist', 'scripts', 'readme-screenshots.js');
const images = ['console-overview.png', 'console-rollout.png'].map((name) => path.join(root, 'docs', 'images', name));

async function main() {
  if (!fs.existsSync(path.join(root, 'dist', 'ui', 'index.html'))) throw new Error('the console is not built: run npm run build first');
  await esbuild.build({
    entryPoints: [path.join(root, 'test', 'console', 'readme-screenshots.ts')],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    // Dependencies load from node_modules as usual; only the project's own TypeScript is bundled.
    packages: 'external',
    logLevel: 'warning',
  });
  const run = spawnSync(process.execPath, [bundle], { cwd: root, stdio: 'inherit' });
  if (run.status !== 0) throw new Error(`taking the screenshots failed (exit ${run.status})`);
  for (const image of images) console.log(`${path.relative(root, image)}: ${Math.round(fs.statSync(image).size / 1024)} KB`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
