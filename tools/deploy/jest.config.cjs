module.exports = { displayName: 'deploy', preset: '../../jest.preset.cjs', testTimeout: 180_000 };
