module.exports = { displayName: 'generators', preset: '../../jest.preset.cjs', testTimeout: 1_800_000 };
