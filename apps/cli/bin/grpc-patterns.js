#!/usr/bin/env node
// The installed `grpc-patterns` command. npm links bins at `npm ci`, before anything is built,
// and a bin whose file does not exist yet is not linked: this committed file is, and runs the
// built CLI (`npm run build` makes apps/cli/dist).
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const main = join(__dirname, '..', 'dist', 'main.js');
if (!existsSync(main)) {
  process.stderr.write('grpc-patterns: apps/cli is not built yet; run `npm run build` (or `npx nx build @grpc-patterns/cli`) first\n');
  process.exit(1);
}
require(main);
