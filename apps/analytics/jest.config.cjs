module.exports = { displayName: 'analytics', preset: '../../jest.preset.cjs' };
