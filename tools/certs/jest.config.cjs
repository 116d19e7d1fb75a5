module.exports = { displayName: 'certs', preset: '../../jest.preset.cjs', testTimeout: 180_000 };
