import { errorText, Status } from "@cloister/core";
import type * as grpc from "@grpc/grpc-js";
import { statusError } from "./errors.js";
import type { FieldLimits, MessageLimits } from "./limits.js";

/**
 * What a guarded deserializer returns instead of throwing: grpc-js answers a throwing
 * deserializer with 13 INTERNAL, but a request that does not parse is the client's fault.
 */
export class RejectedRequest {
  constructor(readonly reason: string) {}
}

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * The first field over its limit, as a message naming the field and the limit (never the value).
 * Linear in the size of the decoded message, which `maxBytes` already bounds.
 */
export function checkFields(message: unknown, limits: FieldLimits): string | undefined {
  const stack: { value: unknown; field: string }[] = [{ value: message, field: "" }];
  while (stack.length > 0) {
    const { value, field } = stack.pop() as { value: unknown; field: string };
    if (typeof value === "string" || value instanceof Uint8Array) {
      const max = limits.lengths[field] ?? limits.defaultLength;
      if (value.length > max) return errorText("FIELD_TOO_LONG", { field: snake(field), max });
    } else if (Array.isArray(value)) {
      const max = limits.counts[field] ?? limits.defaultCount;
      if (value.length > max) return errorText("FIELD_TOO_MANY", { field: snake(field), max });
      for (const item of value) stack.push({ value: item, field });
    } else if (value !== null && typeof value === "object") {
      const entries = Object.entries(value);
      // A map field decodes to an object whose keys are data: bound their number too.
      if (field !== "" && entries.length > (limits.counts[field] ?? limits.defaultCount) + 16)
        return errorText("FIELD_MAP_TOO_LARGE", { field: snake(field) });
      for (const [k, v] of entries) stack.push({ value: v, field: k });
    }
  }
  return undefined;
}

/** A deserializer that never throws: size, parse and field failures become a RejectedRequest. */
export function guardedDeserializer<T>(
  decode: (bytes: Buffer) => T,
  limits: { message?: MessageLimits | undefined; fields?: FieldLimits | undefined },
): (bytes: Buffer) => T | RejectedRequest {
  return (bytes) => {
    if (limits.message && bytes.length > limits.message.maxBytes)
      return new RejectedRequest(errorText("REQUEST_TOO_LARGE", { max: limits.message.maxBytes }));
    let decoded: T;
    try {
      decoded = decode(bytes);
    } catch {
      return new RejectedRequest(errorText("REQUEST_UNPARSABLE"));
    }
    const tooLarge = limits.fields && checkFields(decoded, limits.fields);
    return tooLarge ? new RejectedRequest(tooLarge) : decoded;
  };
}

/** Wraps a unary handler so a RejectedRequest is answered 3 INVALID_ARGUMENT before it runs. */
export function guardedUnary(
  handler: grpc.handleUnaryCall<unknown, unknown>,
): grpc.handleUnaryCall<unknown, unknown> {
  return (call, callback) => {
    const request = call.request as unknown;
    if (request instanceof RejectedRequest) {
      callback(statusError(Status.INVALID_ARGUMENT, request.reason));
      return;
    }
    handler(call, callback);
  };
}

/** Like guardedUnary for a server-streaming method: a RejectedRequest ends the call with 3. */
export function guardedServerStream(
  handler: grpc.handleServerStreamingCall<unknown, unknown>,
): grpc.handleServerStreamingCall<unknown, unknown> {
  return (call) => {
    const request = call.request as unknown;
    if (request instanceof RejectedRequest) {
      call.emit("error", statusError(Status.INVALID_ARGUMENT, request.reason));
      return;
    }
    handler(call);
  };
}

/**
 * The service with the deserializer of every method that takes one request (unary and
 * server-streaming) guarded. Client-streaming methods are left as they are (no service of the
 * platform has one on an API endpoint).
 */
export function guardService(
  service: grpc.ServiceDefinition,
  implementation: grpc.UntypedServiceImplementation,
  limitsFor: (path: string) => { message?: MessageLimits | undefined; fields?: FieldLimits | undefined },
): { service: grpc.ServiceDefinition; implementation: grpc.UntypedServiceImplementation } {
  const guarded: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  const impl: grpc.UntypedServiceImplementation = { ...implementation };
  for (const [name, def] of Object.entries(service) as [string, grpc.MethodDefinition<unknown, unknown>][]) {
    if (def.requestStream) {
      guarded[name] = def;
      continue;
    }
    guarded[name] = {
      ...def,
      requestDeserialize: guardedDeserializer(def.requestDeserialize, limitsFor(def.path)),
    };
    // biome-ignore lint/suspicious/noExplicitAny: both handler kinds take (call, ...) and are wrapped alike
    const wrap = (h: any) => (def.responseStream ? guardedServerStream(h) : guardedUnary(h));
    const handler = implementation[name];
    if (typeof handler === "function") impl[name] = wrap(handler);
    const original = def.originalName;
    if (original && original !== name && typeof implementation[original] === "function")
      impl[original] = wrap(implementation[original]);
  }
  return { service: guarded as grpc.ServiceDefinition, implementation: impl };
}
