export * from './manifest.js';
export { SERVICES } from './services.js';
