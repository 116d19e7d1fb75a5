/**
 * Request validation declared once per method: a registry maps a method (its generated
 * definition, e.g. `authV1.AuthServiceService.register`, or its path) to a validator returning
 * google.rpc.BadRequest field violations; the interceptor runs it on every request message
 * before the handler sees it. Violations end the call with INVALID_ARGUMENT, the message
 * `field: description` joined with "; " (as grpc-kit's `invalidArgument` writes it) and a
 * google.rpc.BadRequest in `grpc-status-details-bin`.
 *
 * A rule may also parse ({@link ValidationRegistry.addParser}): the interceptor keeps the
 * parsed value of each message it passed, and the handler takes it with {@link parsedRequest}
 * instead of checking the request again (validated once per call).
 *
 * The same idea as protovalidate / protoc-gen-validate's generated `Validate()` and
 * go-grpc-middleware's `validator` interceptor, with the rules written in TypeScript next to
 * the service instead of as proto options.
 */
import * as grpc from '@grpc/grpc-js';
import { invalidArgument, toStatus, type FieldViolation } from '@grpc-patterns/grpc-kit';
import { callContext, recordStatus, runInCallContext } from './call-context.js';

/** Checks one request message; returns every violation (empty: valid). Field paths use proto names ("items[0].quantity"). */
export type MessageValidator<Req> = (message: Req) => FieldViolation[];

/** The outcome of parsing a request: the parsed value, or its violations (never both). */
export type Checked<T> = { value: T; violations?: undefined } | { value?: undefined; violations: FieldViolation[] };

/** Checks and parses one request message: the value its handler works with, or every violation. */
export type MessageParser<Req, T> = (message: Req) => Checked<T>;

/** The parsed value of each message a parser passed, keyed by the message object (what the handler receives). */
const parsedMessages = new WeakMap<object, { parse: MessageParser<never, unknown>; value: unknown }>();

/** A method as generated code describes it (only `path` is read; the types give the validator its request type). */
export interface MethodLike<Req> {
  path: string;
  requestDeserialize?: (bytes: Buffer) => Req;
}

/** Validators by full method path. */
export class ValidationRegistry {
  private readonly validators = new Map<string, MessageValidator<unknown>>();

  /**
   * Registers the validator of a method's request messages (each message of a client or bidi
   * stream is checked on its own).
   *
   * @throws Error if the method already has one (rules are declared once).
   */
  add<Req>(method: MethodLike<Req> | string, validate: MessageValidator<Req>): this {
    const path = typeof method === 'string' ? method : method.path;
    if (this.validators.has(path)) throw new Error(`validation rules for ${path} are already registered`);
    this.validators.set(path, validate as MessageValidator<unknown>);
    return this;
  }

  /**
   * Registers a parser as the method's rules: its violations reject a message as
   * {@link add}'s do; the value of a message it passes is kept for {@link parsedRequest}.
   *
   * @throws Error if the method already has rules.
   */
  addParser<Req, T>(method: MethodLike<Req> | string, parse: MessageParser<Req, T>): this {
    return this.add(method, (message: Req) => {
      const checked = parse(message);
      if (checked.violations) return checked.violations;
      if (typeof message === 'object' && message !== null) parsedMessages.set(message, { parse, value: checked.value });
      return [];
    });
  }

  /** The validator for a full method path, if any. */
  get(path: string): MessageValidator<unknown> | undefined {
    return this.validators.get(path);
  }

  /** Registered method paths. */
  paths(): string[] {
    return [...this.validators.keys()];
  }
}

/** Options of {@link validationInterceptor}. */
export interface ValidationInterceptorOptions {
  /** Where a validator that throws is reported (the client gets INTERNAL "internal error"). */
  report?: (error: unknown, path: string) => void;
}

/**
 * Server interceptor checking every request message of a method with rules before the handler
 * sees it; the first bad one ends the call INVALID_ARGUMENT with a BadRequest (a validator that
 * throws anything but a GrpcError: INTERNAL). docs/interceptors.md "The server chain".
 */
export function validationInterceptor(registry: ValidationRegistry, options: ValidationInterceptorOptions = {}): grpc.ServerInterceptor {
  const report = options.report ?? ((error: unknown, path: string) => console.error(`validator of ${path} threw`, error));
  return (method, call) => {
    const validate = registry.get(method.path);
    if (!validate) return call as grpc.ServerInterceptingCall; // nothing to do for this method: no layer of its own
    const ctx = callContext(method, call);
    let ended = false;
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMessage: (message, nextMessage) => {
            if (ended) return;
            let error: unknown;
            try {
              const violations = validate(message);
              if (violations.length === 0) return runInCallContext(ctx, () => nextMessage(message));
              error = invalidArgument(violations);
            } catch (thrown) {
              // A validator may throw a GrpcError itself; anything else is a bug (INTERNAL).
              error = thrown;
            }
            ended = true;
            const st = toStatus(error, (e) => report(e, method.path));
            recordStatus(ctx, st);
            call.sendStatus({ code: st.code, details: st.details, metadata: st.metadata ?? new grpc.Metadata() });
          },
          onCancel: () => {
            ended = true;
          },
        }),
    });
  };
}

/**
 * The parsed value of `message`: what the interceptor's parser ({@link ValidationRegistry.addParser})
 * returned for this very message, else `parse` run now (no interceptor ran): checked once either way.
 * @throws GrpcError INVALID_ARGUMENT with a google.rpc.BadRequest when `parse` reports violations.
 */
export function parsedRequest<Req extends object, T>(message: Req, parse: MessageParser<Req, T>): T {
  const kept = parsedMessages.get(message);
  if (kept?.parse === parse) return kept.value as T;
  const checked = parse(message);
  if (checked.violations) throw invalidArgument(checked.violations);
  return checked.value;
}
