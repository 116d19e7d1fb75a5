// Shared jest settings, used by every project's jest.config.cjs.
// - @swc/jest compiles TypeScript (and the ESM-only packages jose and hyparquet) to CommonJS.
// - The "@grpc-patterns/source" export condition makes workspace imports resolve to src/, so
//   tests never run stale dist/ output.
const esmOnly = ['jose', 'hyparquet', 'hyparquet-compressors'];
module.exports = {
  testEnvironment: 'node',
  testEnvironmentOptions: {
    customExportConditions: ['@grpc-patterns/source', 'node', 'require', 'default'],
  },
  transform: {
    '^.+\\.(ts|js|mjs)$': [
      '@swc/jest',
      {
        jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
        module: { type: 'commonjs' },
        sourceMaps: 'inline',
      },
    ],
  },
  transformIgnorePatterns: [`node_modules/(?!(${esmOnly.join('|')})/)`],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
  testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.spec.ts'],
  testTimeout: 30_000,
  reporters: ['default', require.resolve('./tools/jest/summary-reporter.cjs')],
};
