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

async function main() {
  if (!fs.existsSync(path.join(root, 'dist', 'ui', 'index.html'))) throw new Error('the console is not built: run npm run build first');
  await esbuild.build({
    stdin: {
      contents: `require('./test/console/readme-screenshots').takeReadmeScreenshots().then((images) => {
        for (const image of images) console.log(image + ': ' + Math.round(require('node:fs').statSync(image).size / 1024) + ' KB');
      }, (error) => { console.error(error); process.exitCode = 1; });`,
      resolveDir: root,
      loader: 'js',
    },
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
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
