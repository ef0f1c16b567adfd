#!/usr/bin/env node
// Generates the static protobufjs code (JavaScript plus TypeScript declarations) from proto/.
// Static code is used instead of reflection because it is what keeps the poll path cheap.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const outDir = path.join(root, 'src', 'generated');
fs.mkdirSync(outDir, { recursive: true });
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
const js = path.join(outDir, 'opamp.js');
const declarations = path.join(outDir, 'opamp.d.ts');

/** Every file the output is made from: the .proto files and this script. */
function inputs(directory) {
  return fs.readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(directory, entry.name);
    if (entry.isDirectory()) return inputs(full);
    return entry.name.endsWith('.proto') ? [full] : [];
  });
}

// `npm ci` builds (prepare) and `npm test` builds again (pretest): the second finds the code
// newer than its sources and stops here, so a run builds once.
const modified = (file) => fs.statSync(file).mtimeMs;
const upToDate = [js, declarations].every((file) => fs.existsSync(file)) &&
  Math.min(modified(js), modified(declarations)) >= Math.max(...[__filename, ...inputs(path.join(root, 'proto'))].map(modified));
if (upToDate) process.exit(0);

execFileSync(bin('pbjs'), [
  '-t', 'static-module', '-w', 'commonjs', '--force-number', '--no-verify', '--no-delimited',
  '--no-service', '-p', path.join(root, 'proto'), '-o', js,
  path.join(root, 'proto', 'opamp', 'v1', 'opamp.proto'),
], { stdio: 'inherit' });
execFileSync(bin('pbts'), ['-o', declarations, js], { stdio: 'inherit' });
