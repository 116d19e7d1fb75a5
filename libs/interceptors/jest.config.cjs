module.exports = { displayName: 'interceptors', preset: '../../jest.preset.cjs' };
