// *.docker.spec.ts run in their own target (docker-test, jest.docker.config.cjs), concurrently
// with this one instead of inside it.
module.exports = { displayName: 'deploy', preset: '../../jest.preset.cjs', testTimeout: 180_000, testPathIgnorePatterns: ['/node_modules/', '\\.docker\\.spec\\.ts$'] };
