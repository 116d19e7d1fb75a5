module.exports = { displayName: 'bench', preset: '../../jest.preset.cjs', testTimeout: 180_000 };
