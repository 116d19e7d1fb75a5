/**
 * runService(): what every service's main.ts calls, and all it calls. This module imports only
 * tracing, the manifest and config (none loads grpc-js), so OpenTelemetry is set up before
 * grpc-js and the service's code load (Online Boutique `paymentservice/index.js`).
 * docs/architecture.md "Start-up" gives the order and why.
 */
import { ConfigError, EXIT_CONFIG } from '@grpc-patterns/config';
import { setupTracing } from '@grpc-patterns/observability';
import { serviceManifest } from '@grpc-patterns/manifest';
import type { ServiceModule } from './service-module.js';

export type { ServiceContext, ServiceModule, ServiceSetup } from './service-module.js';

/**
 * Starts service `name` (a manifest entry): tracing, then `load()` (the app's service module,
 * `() => import('./service.js')`), then {@link startService}. Exits 78 with one line on a config
 * error, 1 with `<name>: failed to start: <reason>` on any other start-up error.
 */
export function runService(name: string, load: () => Promise<ServiceModule>): void {
  serviceManifest(name); // an unknown name fails before anything starts
  const tracing = setupTracing({ serviceName: name });
  const started = (async () => {
    const [{ startService }, module] = await Promise.all([import('./start.js'), load()]);
    await startService(name, tracing, module);
  })();
  started.catch((error: unknown) => {
    if (error instanceof ConfigError) {
      process.stderr.write(`${name}: config error: ${error.message}\n`);
      process.exit(EXIT_CONFIG);
    }
    console.error(`${name}: failed to start: ${error instanceof Error ? error.message : error}`);
    process.exit(1);
  });
}
