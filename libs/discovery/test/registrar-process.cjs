// A separate process that registers in etcd with the library's EtcdRegistrar and then idles,
// so a test can SIGKILL it (a crash: no deregistration, connections cut by the kernel).
// Usage: node registrar-process.cjs <etcd endpoint> <service> <host:port> <ttl seconds>
//        node registrar-process.cjs <etcd endpoint> <service> serve <ttl seconds> <id>
//   ("serve": also serves test.v1.Who, answering <id> after 5 ms, on a free port, and
//   registers that address; prints "registered <port>").
// The TypeScript sources are compiled on require by @swc/core (as jest does).
const Module = require('node:module');
const { existsSync } = require('node:fs');
const swc = require('@swc/core');

const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, parent, ...rest) {
  if (request.startsWith('.') && request.endsWith('.js') && parent && parent.filename && parent.filename.endsWith('.ts')) {
    const ts = require('node:path').resolve(require('node:path').dirname(parent.filename), request.replace(/\.js$/, '.ts'));
    if (existsSync(ts)) return ts;
  }
  return resolve.call(this, request, parent, ...rest);
};
require.extensions['.ts'] = (module, filename) => {
  const { code } = swc.transformFileSync(filename, { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } });
  module._compile(code, filename);
};

const { EtcdRegistrar } = require('../src/etcd-registrar.ts');
const grpc = require('@grpc/grpc-js');
const [endpoint, service, address, ttl, id] = process.argv.slice(2);

async function listen() {
  if (address !== 'serve') return { host: address.slice(0, address.lastIndexOf(':')), port: Number(address.slice(address.lastIndexOf(':') + 1)) };
  const utf8 = { serialize: (v) => Buffer.from(v), deserialize: (b) => b.toString() };
  const server = new grpc.Server();
  server.addService(
    { who: { path: '/test.v1.Who/Who', requestStream: false, responseStream: false, requestSerialize: utf8.serialize, requestDeserialize: utf8.deserialize, responseSerialize: utf8.serialize, responseDeserialize: utf8.deserialize } },
    { who: (_call, callback) => setTimeout(() => callback(null, id), 5) },
  );
  const port = await new Promise((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { host: '127.0.0.1', port };
}

listen()
  .then(async (at) => {
    await new EtcdRegistrar({ service, instanceId: id, endpoints: [endpoint], ttlSeconds: Number(ttl), metadata: { version: 'v1' } }).register(at);
    process.stdout.write(`registered ${at.port}\n`);
  })
  .catch((error) => {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  });
setInterval(() => undefined, 60_000);
