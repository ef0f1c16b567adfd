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

execFileSync(bin('pbjs'), [
  '-t', 'static-module', '-w', 'commonjs', '--force-number', '--no-verify', '--no-delimited',
  '--no-service', '-p', path.join(root, 'proto'), '-o', js,
  path.join(root, 'proto', 'opamp', 'v1', 'opamp.proto'),
], { stdio: 'inherit' });
execFileSync(bin('pbts'), ['-o', path.join(outDir, 'opamp.d.ts'), js], { stdio: 'inherit' });
