module.exports = { displayName: 'discovery', preset: '../../jest.preset.cjs' };
