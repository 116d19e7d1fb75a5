module.exports = { displayName: 'docs-check', preset: '../../jest.preset.cjs', testTimeout: 900_000 };
