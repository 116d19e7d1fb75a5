module.exports = { displayName: 'reliability', preset: '../../jest.preset.cjs', testTimeout: 180_000 };
