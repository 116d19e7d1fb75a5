// The specs that need a Docker Engine (*.docker.spec.ts): target docker-test of
// @grpc-patterns/deploy, its results counted apart from the test target's (summary-reporter).
module.exports = {
  displayName: 'deploy-docker',
  preset: '../../jest.preset.cjs',
  testMatch: ['<rootDir>/src/**/*.docker.spec.ts'],
  testTimeout: 180_000,
  reporters: ['default', ['<rootDir>/../jest/summary-reporter.cjs', { results: 'tools/deploy-docker' }]],
};
