// Spawned services, PGlite start-up and deliberately slow scrypt hashing take seconds each, more
// when the CI machine runs several suites at once: hooks and tests get 2 minutes.
module.exports = { displayName: 'cli', preset: '../../jest.preset.cjs', testTimeout: 120_000 };
