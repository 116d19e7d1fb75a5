// runService's failure paths in process (process.exit stubbed): one line and exit 78 for a config
// error, exit 1 with "<name>: failed to start" for anything else, and an unknown name refused.
import { ConfigError } from '@grpc-patterns/config';
import { runService, type ServiceModule } from './index';

describe('runService', () => {
  let exit: jest.SpyInstance;
  let stderr: jest.SpyInstance;
  let consoleError: jest.SpyInstance;
  let exited: Promise<number>;
  beforeEach(() => {
    exited = new Promise((resolve) => {
      exit = jest.spyOn(process, 'exit').mockImplementation(((code: number) => resolve(code)) as never);
    });
    stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    consoleError = jest.spyOn(console, 'error').mockImplementation(() => undefined);
  });
  afterEach(() => jest.restoreAllMocks());

  const module = (overrides: Partial<ServiceModule>): ServiceModule => ({ loadConfig: () => ({}), start: async () => ({ services: [] }), ...overrides });

  it('exits 78 with one line naming the variable when the config is bad', async () => {
    runService('metrics', async () => module({ loadConfig: () => { throw new ConfigError('GRPC_PORT', 'must be at most 65535 (got "70000")'); } }));
    expect(await exited).toBe(78);
    expect(stderr).toHaveBeenCalledWith('metrics: config error: GRPC_PORT: must be at most 65535 (got "70000")\n');
  });

  it('exits 1 naming the service when start-up fails otherwise', async () => {
    runService('metrics', async () => module({ loadConfig: () => { throw new Error('disk on fire'); } }));
    expect(await exited).toBe(1);
    expect(consoleError).toHaveBeenCalledWith('metrics: failed to start: disk on fire');
    expect(exit).toHaveBeenCalledTimes(1);
  });

  it('refuses a name that is not in the manifest before starting anything', () => {
    expect(() => runService('nosuch', async () => module({}))).toThrow(/^unknown service "nosuch": one of auth, /);
  });
});
