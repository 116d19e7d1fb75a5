// Shared jest settings, used by every project's jest.config.cjs.
// - @swc/jest compiles TypeScript, and the dependencies jest's CommonJS VM cannot load as they
//   are, to CommonJS: ESM-only packages (jose, hyparquet and its codecs) and PGlite, whose .cjs
//   build loads Node built-ins with dynamic import() (refused without --experimental-vm-modules).
// - The "@grpc-patterns/source" export condition makes workspace imports resolve to src/, so
//   tests never run stale dist/ output.
const compiled = ['jose', 'hyparquet', 'hyparquet-compressors', 'hysnappy', '@electric-sql/pglite'];
module.exports = {
  testEnvironment: 'node',
  testEnvironmentOptions: {
    customExportConditions: ['@grpc-patterns/source', 'node', 'require', 'default'],
  },
  transform: {
    '^.+\\.(ts|js|mjs|cjs)$': [
      '@swc/jest',
      {
        jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
        module: { type: 'commonjs' },
        sourceMaps: 'inline',
      },
    ],
  },
  transformIgnorePatterns: [`node_modules/(?!(${compiled.join('|')})/)`],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
  testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.spec.ts'],
  testTimeout: 30_000,
  reporters: ['default', require.resolve('./tools/jest/summary-reporter.cjs')],
};
