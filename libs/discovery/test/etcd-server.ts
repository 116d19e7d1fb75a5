/**
 * The discovery suites' etcd: the real server from @grpc-patterns/testing (startEtcd), plus a
 * jest `describe` that skips with the reason when etcd is missing (never under CI=true).
 */
import { describeRequiring, etcdAvailability } from '@grpc-patterns/testing';

export { ETCD_BINARY, ETCDCTL_BINARY, etcdAvailability, startEtcd, type EtcdServer } from '@grpc-patterns/testing';

/**
 * `describe` when etcd is available or CI=true (where a missing etcd then fails in
 * {@link startEtcd}), else `describe.skip` after printing why.
 */
export function describeWithEtcd(name: string, body: () => void): void {
  const availability = etcdAvailability();
  describeRequiring(name, availability.available ? undefined : availability.reason, body);
}

