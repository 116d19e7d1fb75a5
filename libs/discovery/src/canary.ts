/**
 * A canary load-balancing policy for grpc-js (`experimental.registerLoadBalancerType`).
 *
 * The resolver's endpoints are split into two groups by their discovery metadata (`version`
 * from etcd `Metadata` (`version=v2`) or Consul `Service.Meta`, passed under {@link ENDPOINT_METADATA_ATTRIBUTE}):
 * the canary group (version == `version`, default "v2") and the stable group (the rest). Each
 * group is balanced by its own round_robin child. Per call:
 *
 * - metadata `x-version: v2` (the `metadataKey` header equal to `version`) -> canary group only;
 *   another value of that header -> stable group only. An empty pinned group fails the call
 *   with UNAVAILABLE (or waits, for wait-for-ready calls) instead of silently going elsewhere;
 * - no header -> split by `weightPercent`: a deterministic smooth weighted counter, so with 10
 *   exactly 1 call in 10 goes to the canary (no random drift). When one group has no READY
 *   endpoint, unpinned calls go to the other.
 *
 * Service config: `{"loadBalancingConfig":[{"canary":{"version":"v2","weightPercent":10}}]}`.
 * Pickers see the call's metadata (grpc-js `PickArgs.metadata`), which is what makes
 * header-based routing possible without an interceptor.
 */
import { experimental, Metadata, status, connectivityState as ConnectivityState } from '@grpc/grpc-js';
import type { ChannelOptions } from '@grpc/grpc-js';
import { ENDPOINT_METADATA_ATTRIBUTE, type EndpointMetadataMap } from './endpoints.js';

/** The policy name in service configs. */
export const CANARY_POLICY_NAME = 'canary';

/** JSON form of the policy's config. */
export interface CanaryPolicyJson {
  /** Endpoint version that forms the canary group; default "v2". */
  version?: string;
  /** Share of calls without the header that go to the canary group, percent 0..100; default 0. */
  weightPercent?: number;
  /** Call metadata key that pins a call to a version; default "x-version". */
  metadataKey?: string;
  /** Endpoint metadata field holding the version; default "version". */
  versionKey?: string;
}

/** The parsed config (grpc-js `TypedLoadBalancingConfig`). */
export class CanaryLoadBalancingConfig implements experimental.TypedLoadBalancingConfig {
  constructor(
    readonly version: string,
    readonly weightPercent: number,
    readonly metadataKey: string,
    readonly versionKey: string,
  ) {}
  getLoadBalancerName(): string {
    return CANARY_POLICY_NAME;
  }
  toJsonObject(): object {
    return { [CANARY_POLICY_NAME]: { version: this.version, weightPercent: this.weightPercent, metadataKey: this.metadataKey, versionKey: this.versionKey } };
  }
  /** @throws Error on a bad field (grpc-js then rejects the service config). */
  static createFromJson(obj: CanaryPolicyJson): CanaryLoadBalancingConfig {
    const weight = obj.weightPercent ?? 0;
    if (typeof weight !== 'number' || !(weight >= 0 && weight <= 100)) throw new Error(`canary: weightPercent must be a number in 0..100, got ${JSON.stringify(obj.weightPercent)}`);
    for (const key of ['version', 'metadataKey', 'versionKey'] as const) {
      if (obj[key] !== undefined && (typeof obj[key] !== 'string' || obj[key] === '')) throw new Error(`canary: ${key} must be a non-empty string`);
    }
    return new CanaryLoadBalancingConfig(obj.version ?? 'v2', weight, (obj.metadataKey ?? 'x-version').toLowerCase(), obj.versionKey ?? 'version');
  }
}

interface Group {
  name: 'stable' | 'canary';
  child: experimental.ChildLoadBalancerHandler;
  size: number;
  state: ConnectivityState;
  picker: experimental.Picker | undefined;
}

const ROUND_ROBIN = experimental.parseLoadBalancingConfig({ round_robin: {} });

function failure(details: string): experimental.PickResult {
  return { pickResultType: experimental.PickResultType.TRANSIENT_FAILURE, subchannel: null, status: { code: status.UNAVAILABLE, details, metadata: new Metadata() }, onCallStarted: null, onCallEnded: null };
}

/** The policy: two round_robin children and a picker that chooses between them per call. */
export class CanaryLoadBalancer implements experimental.LoadBalancer {
  private readonly stable: Group;
  private readonly canary: Group;
  private config: CanaryLoadBalancingConfig | undefined;
  private updatesPaused = false;
  /** Smooth weighted counter, kept across pickers so the split stays exact. */
  private readonly counter = { value: 0 };

  constructor(private readonly helper: experimental.ChannelControlHelper) {
    this.stable = this.group('stable');
    this.canary = this.group('canary');
  }

  private group(name: Group['name']): Group {
    const group: Group = { name, size: 0, state: ConnectivityState.IDLE, picker: undefined, child: undefined as unknown as experimental.ChildLoadBalancerHandler };
    group.child = new experimental.ChildLoadBalancerHandler(
      experimental.createChildChannelControlHelper(this.helper, {
        updateState: (state, picker) => {
          group.state = state;
          group.picker = picker;
          this.publish();
        },
      }),
    );
    return group;
  }

  updateAddressList(endpoints: experimental.StatusOr<experimental.Endpoint[]>, lbConfig: experimental.TypedLoadBalancingConfig, options: ChannelOptions, resolutionNote: string): boolean {
    if (!(lbConfig instanceof CanaryLoadBalancingConfig)) return false;
    this.config = lbConfig;
    this.updatesPaused = true;
    if (!endpoints.ok) {
      this.stable.child.updateAddressList(endpoints, ROUND_ROBIN, options, resolutionNote);
      this.canary.child.updateAddressList(endpoints, ROUND_ROBIN, options, resolutionNote);
    } else {
      const metadata = (options[ENDPOINT_METADATA_ATTRIBUTE] ?? {}) as EndpointMetadataMap;
      const canary: experimental.Endpoint[] = [];
      const stable: experimental.Endpoint[] = [];
      for (const endpoint of endpoints.value) {
        const version = metadata[experimental.subchannelAddressToString(endpoint.addresses[0])]?.[lbConfig.versionKey];
        (version === lbConfig.version ? canary : stable).push(endpoint);
      }
      this.stable.size = stable.length;
      this.canary.size = canary.length;
      this.stable.child.updateAddressList(experimental.statusOrFromValue(stable), ROUND_ROBIN, options, resolutionNote);
      this.canary.child.updateAddressList(experimental.statusOrFromValue(canary), ROUND_ROBIN, options, resolutionNote);
    }
    this.updatesPaused = false;
    this.publish();
    return true;
  }

  private publish(): void {
    if (this.updatesPaused || !this.config) return;
    const groups = [this.stable, this.canary].filter((g) => g.size > 0);
    const state = groups.some((g) => g.state === ConnectivityState.READY)
      ? ConnectivityState.READY
      : groups.some((g) => g.state === ConnectivityState.CONNECTING)
        ? ConnectivityState.CONNECTING
        : groups.some((g) => g.state === ConnectivityState.IDLE)
          ? ConnectivityState.IDLE
          : ConnectivityState.TRANSIENT_FAILURE;
    const config = this.config;
    const stable = { ...this.stable };
    const canary = { ...this.canary };
    const counter = this.counter;
    const pickFrom = (group: Group, pickArgs: experimental.PickArgs): experimental.PickResult =>
      group.size === 0 || !group.picker ? failure(`canary: no ${group.name === 'canary' ? `${config.version} ` : 'stable '}endpoint`) : group.picker.pick(pickArgs);
    const picker: experimental.Picker = {
      pick(pickArgs) {
        const pinned = pickArgs.metadata.get(config.metadataKey)[0];
        if (pinned !== undefined) return pickFrom(String(pinned) === config.version ? canary : stable, pickArgs);
        const canaryUsable = canary.size > 0 && canary.state === ConnectivityState.READY;
        const stableUsable = stable.size > 0 && stable.state === ConnectivityState.READY;
        if (canaryUsable && stableUsable) {
          counter.value += config.weightPercent;
          if (counter.value >= 100) {
            counter.value -= 100;
            return pickFrom(canary, pickArgs);
          }
          return pickFrom(stable, pickArgs);
        }
        if (canaryUsable && (config.weightPercent > 0 || stable.size === 0)) return pickFrom(canary, pickArgs);
        return pickFrom(stable.size > 0 ? stable : canary, pickArgs);
      },
    };
    this.helper.updateState(state, picker, state === ConnectivityState.TRANSIENT_FAILURE ? 'canary: no endpoint is reachable' : null);
  }

  exitIdle(): void {
    this.stable.child.exitIdle();
    this.canary.child.exitIdle();
  }
  resetBackoff(): void {
    this.stable.child.resetBackoff();
    this.canary.child.resetBackoff();
  }
  destroy(): void {
    this.stable.child.destroy();
    this.canary.child.destroy();
  }
  getTypeName(): string {
    return CANARY_POLICY_NAME;
  }
}

/** Registers the `canary` policy with grpc-js (process-wide, idempotent). */
export function registerCanaryPolicy(): void {
  if (!experimental.isLoadBalancerNameRegistered(CANARY_POLICY_NAME)) {
    experimental.registerLoadBalancerType(CANARY_POLICY_NAME, CanaryLoadBalancer, CanaryLoadBalancingConfig);
  }
}
