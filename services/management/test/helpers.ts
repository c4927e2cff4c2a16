import assert from "node:assert/strict";
import { CloisterError } from "@cloister/core";
import { frontend } from "@cloister/proto";
import { type Caller, ManagementService } from "../src/index.js";
import { MemoryStore } from "./memory-store.js";

export const admin: Caller = { id: "admin", role: "PlatformAdmin" };
export const fowner: Caller = { id: "fowner", role: "FunctionOwner" };
export const alice: Caller = { id: "alice", role: "DataOwner-bank" };
export const bob: Caller = { id: "bob", role: "DataOwner-bank" };
export const carol: Caller = { id: "carol", role: "DataOwnerManager-hospital" };
export const mallory: Caller = { id: "mallory", role: "DataOwner-evil" };

export function setup() {
  const store = new MemoryStore();
  return { store, svc: new ManagementService({ store }) };
}

export async function rejects(p: Promise<unknown>, code: number, message: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof CloisterError, `expected CloisterError, got ${String(e)}`);
    assert.equal(e.message, message);
    assert.equal(e.code, code);
    return true;
  });
}

export const aes128 = () => ({ schema: "aes-gcm-128", key: Buffer.alloc(16, 1), iv: Buffer.alloc(12, 2) });
export const tf128 = () => ({ schema: "teaclave-file-128", key: Buffer.alloc(16, 3), iv: Buffer.alloc(0) });

export const fnReq = (p: Partial<frontend.RegisterFunctionRequest> = {}) =>
  frontend.RegisterFunctionRequest.fromPartial({
    name: "builtin-echo",
    description: "echo",
    executorType: "builtin",
    public: true,
    payload: Buffer.alloc(0),
    arguments: [{ key: "message", defaultValue: "", allowOverwrite: true }],
    usageQuota: -1,
    ...p,
  });

export async function registerInput(
  svc: ManagementService,
  who: Caller,
  url = "http://files/in",
): Promise<string> {
  const r = await svc.registerInputFile(who, { url, cmac: Buffer.alloc(16, 4), cryptoInfo: aes128() });
  return r.dataId;
}

export async function registerOutput(
  svc: ManagementService,
  who: Caller,
  url = "http://files/out",
): Promise<string> {
  return (await svc.registerOutputFile(who, { url, cryptoInfo: tf128() })).dataId;
}

export const NO_SUCH = "00000000-0000-4000-8000-000000000000";
