import { ConsulRegistrar } from './consul-registrar.js';
import { createRegistrar, type DiscoveryConfig } from './from-config.js';

const base: DiscoveryConfig = { DISCOVERY: 'consul', CONSUL_HTTP_ADDR: '127.0.0.1:8500', ETCD_ENDPOINTS: 'http://127.0.0.1:2379', SERVICE_VERSION: 'v1' };
const address = { host: '10.0.0.7', port: 50055 };

describe('createRegistrar (consul)', () => {
  it.each([
    [undefined, false],
    ['off', false],
    ['tls', true],
    ['mtls', true],
  ] as const)('TLS_MODE=%s: the gRPC health check dials with TLS: %s', (mode, useTls) => {
    const registrar = createRegistrar({ ...base, ...(mode ? { TLS_MODE: mode } : {}) }, { service: 'orders', healthService: 'orders.v1.OrderService' });
    expect(registrar).toBeInstanceOf(ConsulRegistrar);
    const check = (registrar as ConsulRegistrar).registration(address).Check;
    expect(check?.GRPCUseTLS).toBe(useTls);
    expect(check?.GRPC).toBe('10.0.0.7:50055/orders.v1.OrderService');
  });
});
