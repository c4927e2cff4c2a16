/**
 * Every TeaclaveFrontend RPC called as every role, through the real platform, checked against
 * spec/behaviour.md: §3.1 (credentials), §3.2 (the role/API gate: 7 `permission denied`) and the
 * per-object rules of §4 (functions), §5 (data) and §6 (tasks), as owner and as non-owner /
 * non-participant. The expectations are written out below as tables; the product code is not
 * consulted to derive them.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { common, frontend } from "@cloister/proto";
import type { CloisterClient } from "@cloister/sdk";
import type { Platform } from "../src/index.js";
import { client, launch, rejectsWith, seedInvalidUser, session, wireCrypto } from "./support.js";

// ---- who ---------------------------------------------------------------------------------------

/** Role names as the API gate sees them (§2.1, last column). */
type RoleName = "PlatformAdmin" | "FunctionOwner" | "DataOwnerManager" | "DataOwner" | "Invalid";

/** The users of this test. `fo2`/`doA2` exist to be the non-owner / other participant. */
const USERS = {
  admin: { role: "PlatformAdmin", register: null },
  fo: { role: "FunctionOwner", register: ["FunctionOwner", ""] },
  fo2: { role: "FunctionOwner", register: ["FunctionOwner", ""] },
  mgr: { role: "DataOwnerManager", register: ["DataOwnerManager", "A"] },
  doA: { role: "DataOwner", register: ["DataOwner", "A"] },
  doA2: { role: "DataOwner", register: ["DataOwner", "A"] },
  // Role `Invalid`: the API refuses to create one (§2.1), so it is written into the sealed user
  // database before the platform starts, as a legacy database could hold it.
  nobody: { role: "Invalid", register: null },
} as const satisfies Record<string, { role: RoleName; register: readonly [string, string] | null }>;
type Actor = keyof typeof USERS;

/** One representative caller per role for the gate rows: PlatformAdmin, FunctionOwner, DataOwnerManager-A, DataOwner-A, Invalid. */
const COLUMNS: Actor[] = ["admin", "fo", "mgr", "doA", "nobody"];

// ---- §3.2: which roles pass the gate for each API (PlatformAdmin passes everything) ---------

const FO = "FunctionOwner";
const DOM = "DataOwnerManager";
const DO = "DataOwner";
const GATE = {
  registerInputFile: [DOM, DO],
  registerOutputFile: [DOM, DO],
  updateInputFile: [DOM, DO],
  updateOutputFile: [DOM, DO],
  registerFusionOutput: [DOM, DO],
  registerInputFromOutput: [DOM, DO],
  getOutputFile: [DOM, DO],
  getInputFile: [DOM, DO],
  registerFunction: [FO],
  getFunction: [FO, DOM, DO],
  getFunctionUsageStats: [FO, DOM, DO],
  updateFunction: [FO],
  listFunctions: [FO, DOM, DO],
  deleteFunction: [FO],
  disableFunction: [FO],
  createTask: [DOM, DO],
  getTask: [DOM, DO],
  assignData: [DOM, DO],
  approveTask: [DOM, DO],
  invokeTask: [DOM, DO],
  cancelTask: [DOM, DO],
  queryAuditLogs: [],
} as const satisfies Record<keyof typeof frontend.TeaclaveFrontendService, readonly RoleName[]>;
type Rpc = keyof typeof GATE;
const RPCS = Object.keys(GATE) as Rpc[];

const passesGate = (rpc: Rpc, role: RoleName) =>
  role === "PlatformAdmin" || (GATE[rpc] as readonly string[]).includes(role);
const snake = (rpc: Rpc) => rpc.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

// ---- the platform and the objects the rows act on ---------------------------------------------

let platform: Platform;
const as = {} as Record<Actor, CloisterClient>;
const NO_SUCH_FUNCTION = "function-00000000-0000-4000-8000-000000000000";
const NO_SUCH_TASK = "task-00000000-0000-4000-8000-000000000000";
const CMAC = Buffer.alloc(16, 7);

/** Objects created once in `before`; rows that change state make their own. */
const f = {} as {
  fnPub: string; // public echo of fo
  fnPriv: string; // private, payload "secret payload", user_allowlist ["doA"] (a user id)
  fnPrivA: string; // private, user_allowlist ["A"] (a data-owner attribute)
  fnStats: string; // public, quota 5, never invoked
  fnShared: string; // public, one input `in`: tasks with two participants
  inA: string; // input of doA
  outA: string; // output of doA (no cmac yet)
  inMgr: string;
  outMgr: string;
  fusion: string; // fusion output of {doA, doA2}
  taskA: string; // doA's task on fnPub (single participant)
};

const echoArgs = [{ key: "message", defaultValue: "", allowOverwrite: true }];

/** Any frontend RPC from a partial request (the generated encoder needs every field set). */
function send(c: CloisterClient, rpc: Rpc, request: object): Promise<unknown> {
  const type = (frontend as unknown as Record<string, { fromPartial(o: object): object }>)[
    `${rpc[0]!.toUpperCase()}${rpc.slice(1)}Request`
  ]!;
  return (c.call as (m: string, r: object) => Promise<unknown>)(rpc, type.fromPartial(request));
}
const call = (actor: Actor, rpc: Rpc, request: object) => send(as[actor], rpc, request);

const inputFile = (c: CloisterClient) =>
  c
    .call("registerInputFile", {
      url: "https://files.example/cloister-matrix/in.enc",
      cmac: CMAC,
      cryptoInfo: wireCrypto(),
    })
    .then((r) => r.dataId);
const outputFile = (c: CloisterClient) =>
  c
    .call("registerOutputFile", {
      url: "https://files.example/cloister-matrix/out.enc",
      cryptoInfo: wireCrypto(),
    })
    .then((r) => r.dataId);
const echoFunction = (extra: Partial<frontend.RegisterFunctionRequest> = {}) =>
  as.fo.registerFunction({ name: "builtin-echo", arguments: echoArgs, ...extra });
const simpleTask = (creator: Actor, functionId = f.fnPub) =>
  as[creator].createTask({ functionId, arguments: { message: "hi" } });
/** doA creates a task whose input `in` belongs to doA2: participants {doA, doA2}. */
const sharedTask = () =>
  as.doA.createTask({
    functionId: f.fnShared,
    arguments: { message: "hi" },
    inputsOwnership: [{ dataName: "in", uids: ["doA2"] }],
  });
/** …with doA2's input assigned (status DataAssigned). */
async function assignedSharedTask(): Promise<string> {
  const taskId = await sharedTask();
  await as.doA2.assignData(taskId, { in: await inputFile(as.doA2) });
  return taskId;
}

// ---- §4–§6: the per-object rows -------------------------------------------------------------

type Outcome = "ok" | readonly [code: number, message: string];
interface Row {
  rpc: Rpc;
  as: Actor;
  /** What the caller is to the object (shown in the test name). */
  on: string;
  req: () => object | Promise<object>;
  expect: Outcome;
  // biome-ignore lint/suspicious/noExplicitAny: each row's response type depends on its RPC
  check?: (response: any) => void | Promise<void>;
}

const DENIED = [7, "permission denied"] as const;
const ID = (prefix: string) =>
  new RegExp(`^${prefix}-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`);

// biome-ignore format: one row per line keeps the matrix readable
const ROWS: Row[] = [
  // §4.2 functions
  { rpc: "registerFunction", as: "fo", on: "new function", req: () => ({ name: "builtin-echo", executorType: "builtin" }), expect: "ok", check: (r) => assert.match(r.functionId, ID("function")) },
  { rpc: "registerFunction", as: "admin", on: "new function", req: () => ({ name: "builtin-echo", executorType: "builtin" }), expect: "ok" },
  { rpc: "registerFunction", as: "fo", on: "unknown executor type", req: () => ({ name: "f", executorType: "cobol" }), expect: [3, "Invalid executor type: cobol"] },

  { rpc: "updateFunction", as: "fo", on: "own function", req: async () => ({ functionId: await echoFunction(), name: "renamed", executorType: "builtin" }), expect: "ok" },
  { rpc: "updateFunction", as: "fo2", on: "another owner's function", req: () => ({ functionId: f.fnPub, name: "x", executorType: "builtin" }), expect: DENIED },
  { rpc: "updateFunction", as: "admin", on: "another owner's function (admin not exempt)", req: () => ({ functionId: f.fnPub, name: "x", executorType: "builtin" }), expect: DENIED },
  { rpc: "updateFunction", as: "fo", on: "unknown function", req: () => ({ functionId: NO_SUCH_FUNCTION, executorType: "builtin" }), expect: [3, "invalid function id"] },

  { rpc: "deleteFunction", as: "fo", on: "own function", req: async () => ({ functionId: await echoFunction() }), expect: "ok" },
  { rpc: "deleteFunction", as: "fo2", on: "another owner's function", req: () => ({ functionId: f.fnPub }), expect: DENIED },
  { rpc: "deleteFunction", as: "admin", on: "another owner's function (admin not exempt)", req: () => ({ functionId: f.fnPub }), expect: DENIED },

  { rpc: "disableFunction", as: "fo", on: "own function", req: async () => ({ functionId: await echoFunction() }), expect: "ok" },
  { rpc: "disableFunction", as: "admin", on: "another owner's function", req: async () => ({ functionId: await echoFunction() }), expect: "ok" },
  { rpc: "disableFunction", as: "fo2", on: "another owner's function", req: () => ({ functionId: f.fnPub }), expect: DENIED },

  { rpc: "getFunction", as: "fo2", on: "public function", req: () => ({ functionId: f.fnPub }), expect: "ok", check: (r) => assert.equal(r.owner, "fo") },
  { rpc: "getFunction", as: "mgr", on: "public function", req: () => ({ functionId: f.fnPub }), expect: "ok" },
  { rpc: "getFunction", as: "doA", on: "public function", req: () => ({ functionId: f.fnPub }), expect: "ok" },
  { rpc: "getFunction", as: "fo", on: "own private function", req: () => ({ functionId: f.fnPriv }), expect: "ok", check: (r) => { assert.equal(Buffer.from(r.payload).toString(), "secret payload"); assert.deepEqual(r.userAllowlist, ["doA"]) } },
  { rpc: "getFunction", as: "admin", on: "private function", req: () => ({ functionId: f.fnPriv }), expect: "ok", check: (r) => assert.equal(Buffer.from(r.payload).toString(), "secret payload") },
  { rpc: "getFunction", as: "doA", on: "private function allowlisting its user id (payload, allowlist hidden)", req: () => ({ functionId: f.fnPriv }), expect: "ok", check: (r) => { assert.equal(r.payload.length, 0); assert.deepEqual(r.userAllowlist, []); assert.equal(r.name, "builtin-echo") } },
  { rpc: "getFunction", as: "doA2", on: "private function, not allowlisted", req: () => ({ functionId: f.fnPriv }), expect: DENIED },
  { rpc: "getFunction", as: "mgr", on: "private function, not allowlisted", req: () => ({ functionId: f.fnPriv }), expect: DENIED },
  { rpc: "getFunction", as: "fo2", on: "another owner's private function", req: () => ({ functionId: f.fnPriv }), expect: DENIED },
  { rpc: "getFunction", as: "doA", on: "unknown function", req: () => ({ functionId: NO_SUCH_FUNCTION }), expect: [3, "invalid function id"] },

  { rpc: "getFunctionUsageStats", as: "fo2", on: "public function", req: () => ({ functionId: f.fnStats }), expect: "ok", check: (r) => assert.deepEqual(r, { functionQuota: 5, currentUsage: 0 }) },
  { rpc: "getFunctionUsageStats", as: "mgr", on: "public function", req: () => ({ functionId: f.fnStats }), expect: "ok" },
  { rpc: "getFunctionUsageStats", as: "doA", on: "public function", req: () => ({ functionId: f.fnStats }), expect: "ok" },
  { rpc: "getFunctionUsageStats", as: "admin", on: "private function", req: () => ({ functionId: f.fnPriv }), expect: "ok", check: (r) => assert.deepEqual(r, { functionQuota: -1, currentUsage: 0 }) },
  { rpc: "getFunctionUsageStats", as: "doA", on: "private function allowlisting it", req: () => ({ functionId: f.fnPriv }), expect: "ok" },
  { rpc: "getFunctionUsageStats", as: "fo", on: "own private function, not allowlisted (legacy rule)", req: () => ({ functionId: f.fnPriv }), expect: DENIED },
  { rpc: "getFunctionUsageStats", as: "mgr", on: "private function, not allowlisted", req: () => ({ functionId: f.fnPriv }), expect: DENIED },

  { rpc: "listFunctions", as: "fo", on: "own lists", req: () => ({ userId: "fo" }), expect: "ok", check: (r) => { for (const id of [f.fnPub, f.fnPriv, f.fnPrivA]) assert.ok(r.registeredFunctions.includes(id)) } },
  { rpc: "listFunctions", as: "fo", on: "another user's lists", req: () => ({ userId: "fo2" }), expect: DENIED },
  { rpc: "listFunctions", as: "doA", on: "own lists (allowlisted on fnPriv)", req: () => ({ userId: "doA" }), expect: "ok", check: (r) => { assert.deepEqual(r.registeredFunctions, []); assert.deepEqual(r.allowedFunctions, [f.fnPriv]) } },
  { rpc: "listFunctions", as: "doA", on: "another user's lists", req: () => ({ userId: "fo" }), expect: DENIED },
  { rpc: "listFunctions", as: "mgr", on: "own lists (no record)", req: () => ({ userId: "mgr" }), expect: "ok", check: (r) => assert.deepEqual(r, { registeredFunctions: [], allowedFunctions: [] }) },
  { rpc: "listFunctions", as: "admin", on: "another user's lists (allowed = every function)", req: () => ({ userId: "fo" }), expect: "ok", check: (r) => { for (const id of [f.fnPub, f.fnPriv, f.fnPrivA, f.fnStats, f.fnShared]) assert.ok(r.allowedFunctions.includes(id)); assert.deepEqual(r.allowedFunctions, [...r.allowedFunctions].sort()) } },

  // §5.2 data
  { rpc: "registerInputFile", as: "doA", on: "new input", req: () => ({ url: "https://files.example/x/in", cmac: CMAC, cryptoInfo: wireCrypto() }), expect: "ok", check: (r) => assert.match(r.dataId, ID("input")) },
  { rpc: "registerInputFile", as: "mgr", on: "new input", req: () => ({ url: "https://files.example/x/in", cmac: CMAC, cryptoInfo: wireCrypto() }), expect: "ok" },
  { rpc: "registerInputFile", as: "admin", on: "new input", req: () => ({ url: "https://files.example/x/in", cmac: CMAC, cryptoInfo: wireCrypto() }), expect: "ok" },
  { rpc: "registerInputFile", as: "doA", on: "15-byte cmac", req: () => ({ url: "https://files.example/x/in", cmac: Buffer.alloc(15), cryptoInfo: wireCrypto() }), expect: [3, "Invalid length"] },

  { rpc: "registerOutputFile", as: "doA", on: "new output", req: () => ({ url: "https://files.example/x/out", cryptoInfo: wireCrypto() }), expect: "ok", check: (r) => assert.match(r.dataId, ID("output")) },
  { rpc: "registerOutputFile", as: "mgr", on: "new output", req: () => ({ url: "https://files.example/x/out", cryptoInfo: wireCrypto() }), expect: "ok" },
  { rpc: "registerOutputFile", as: "admin", on: "new output", req: () => ({ url: "https://files.example/x/out", cryptoInfo: wireCrypto() }), expect: "ok" },

  { rpc: "updateInputFile", as: "doA", on: "own input", req: () => ({ dataId: f.inA, url: "https://files.example/x/in2" }), expect: "ok", check: (r) => { assert.match(r.dataId, ID("input")); assert.notEqual(r.dataId, f.inA) } },
  { rpc: "updateInputFile", as: "mgr", on: "own input", req: () => ({ dataId: f.inMgr, url: "https://files.example/x/in2" }), expect: "ok" },
  { rpc: "updateInputFile", as: "doA2", on: "another owner's input", req: () => ({ dataId: f.inA, url: "https://files.example/x/in2" }), expect: DENIED },
  { rpc: "updateInputFile", as: "mgr", on: "a data owner of its group's input", req: () => ({ dataId: f.inA, url: "https://files.example/x/in2" }), expect: DENIED },
  { rpc: "updateInputFile", as: "admin", on: "another owner's input (admin not exempt)", req: () => ({ dataId: f.inA, url: "https://files.example/x/in2" }), expect: DENIED },

  { rpc: "updateOutputFile", as: "doA", on: "own output", req: () => ({ dataId: f.outA, url: "https://files.example/x/out2" }), expect: "ok", check: (r) => assert.notEqual(r.dataId, f.outA) },
  { rpc: "updateOutputFile", as: "mgr", on: "own output", req: () => ({ dataId: f.outMgr, url: "https://files.example/x/out2" }), expect: "ok" },
  { rpc: "updateOutputFile", as: "doA2", on: "another owner's output", req: () => ({ dataId: f.outA, url: "https://files.example/x/out2" }), expect: DENIED },
  { rpc: "updateOutputFile", as: "admin", on: "another owner's output (admin not exempt)", req: () => ({ dataId: f.outA, url: "https://files.example/x/out2" }), expect: DENIED },
  { rpc: "updateOutputFile", as: "doA", on: "an input id", req: () => ({ dataId: f.inA, url: "https://files.example/x/out2" }), expect: [3, "invalid data id"] },

  { rpc: "registerFusionOutput", as: "doA", on: "owner list with itself and another", req: () => ({ ownerList: ["doA", "doA2"] }), expect: "ok", check: (r) => assert.match(r.dataId, ID("output")) },
  { rpc: "registerFusionOutput", as: "mgr", on: "owner list with itself and another", req: () => ({ ownerList: ["mgr", "doA"] }), expect: "ok" },
  { rpc: "registerFusionOutput", as: "admin", on: "owner list with itself and another", req: () => ({ ownerList: ["doA", "admin"] }), expect: "ok" },
  { rpc: "registerFusionOutput", as: "doA", on: "owner list without itself", req: () => ({ ownerList: ["doA2", "mgr"] }), expect: DENIED },
  { rpc: "registerFusionOutput", as: "doA", on: "owner list of itself only", req: () => ({ ownerList: ["doA"] }), expect: DENIED },
  { rpc: "registerFusionOutput", as: "doA", on: "owner list of itself twice (counted with duplicates)", req: () => ({ ownerList: ["doA", "doA"] }), expect: "ok" },

  { rpc: "registerInputFromOutput", as: "doA", on: "own output not produced yet", req: () => ({ dataId: f.outA }), expect: [3, "invalid output file"] },
  { rpc: "registerInputFromOutput", as: "mgr", on: "own output not produced yet", req: () => ({ dataId: f.outMgr }), expect: [3, "invalid output file"] },
  { rpc: "registerInputFromOutput", as: "doA2", on: "fusion output it co-owns, not produced yet", req: () => ({ dataId: f.fusion }), expect: [3, "invalid output file"] },
  { rpc: "registerInputFromOutput", as: "doA2", on: "another owner's output", req: () => ({ dataId: f.outA }), expect: DENIED },
  { rpc: "registerInputFromOutput", as: "admin", on: "another owner's output (admin not exempt)", req: () => ({ dataId: f.outA }), expect: DENIED },
  { rpc: "registerInputFromOutput", as: "doA", on: "an input id", req: () => ({ dataId: f.inA }), expect: [3, "invalid data id"] },

  { rpc: "getOutputFile", as: "doA", on: "own output", req: () => ({ dataId: f.outA }), expect: "ok", check: (r) => assert.deepEqual({ owner: r.owner, cmac: r.cmac.length }, { owner: ["doA"], cmac: 0 }) },
  { rpc: "getOutputFile", as: "mgr", on: "own output", req: () => ({ dataId: f.outMgr }), expect: "ok" },
  { rpc: "getOutputFile", as: "doA2", on: "fusion output it co-owns", req: () => ({ dataId: f.fusion }), expect: "ok", check: (r) => assert.deepEqual(r.owner, ["doA", "doA2"]) },
  { rpc: "getOutputFile", as: "doA2", on: "another owner's output", req: () => ({ dataId: f.outA }), expect: DENIED },
  { rpc: "getOutputFile", as: "mgr", on: "a data owner of its group's output", req: () => ({ dataId: f.outA }), expect: DENIED },
  { rpc: "getOutputFile", as: "admin", on: "another owner's output (admin not exempt)", req: () => ({ dataId: f.outA }), expect: DENIED },
  { rpc: "getOutputFile", as: "doA", on: "unknown output", req: () => ({ dataId: "output-00000000-0000-4000-8000-000000000000" }), expect: [3, "invalid data id"] },

  { rpc: "getInputFile", as: "doA", on: "own input", req: () => ({ dataId: f.inA }), expect: "ok", check: (r) => assert.deepEqual({ owner: r.owner, cmac: Buffer.from(r.cmac) }, { owner: ["doA"], cmac: CMAC }) },
  { rpc: "getInputFile", as: "mgr", on: "own input", req: () => ({ dataId: f.inMgr }), expect: "ok" },
  { rpc: "getInputFile", as: "doA2", on: "another owner's input", req: () => ({ dataId: f.inA }), expect: DENIED },
  { rpc: "getInputFile", as: "admin", on: "another owner's input (admin not exempt)", req: () => ({ dataId: f.inA }), expect: DENIED },
  { rpc: "getInputFile", as: "doA", on: "an output id", req: () => ({ dataId: f.outA }), expect: [3, "invalid data id"] },

  // §6 tasks
  { rpc: "createTask", as: "doA", on: "public function", req: () => ({ functionId: f.fnPub, functionArguments: '{"message":"m"}', executor: "builtin" }), expect: "ok", check: (r) => assert.match(r.taskId, ID("task")) },
  { rpc: "createTask", as: "mgr", on: "public function", req: () => ({ functionId: f.fnPub, functionArguments: '{"message":"m"}', executor: "builtin" }), expect: "ok" },
  { rpc: "createTask", as: "admin", on: "private function, not allowlisted", req: () => ({ functionId: f.fnPriv, functionArguments: '{"message":"m"}', executor: "builtin" }), expect: "ok" },
  { rpc: "createTask", as: "doA", on: "private function allowlisting its attribute A", req: () => ({ functionId: f.fnPrivA, functionArguments: '{"message":"m"}', executor: "builtin" }), expect: "ok" },
  { rpc: "createTask", as: "mgr", on: "private function allowlisting its attribute A", req: () => ({ functionId: f.fnPrivA, functionArguments: '{"message":"m"}', executor: "builtin" }), expect: "ok" },
  { rpc: "createTask", as: "doA", on: "private function allowlisting its user id, not its attribute", req: () => ({ functionId: f.fnPriv, functionArguments: '{"message":"m"}', executor: "builtin" }), expect: DENIED },
  { rpc: "createTask", as: "mgr", on: "private function, not allowlisted", req: () => ({ functionId: f.fnPriv, functionArguments: '{"message":"m"}', executor: "builtin" }), expect: DENIED },
  { rpc: "createTask", as: "doA", on: "unknown function", req: () => ({ functionId: NO_SUCH_FUNCTION, functionArguments: "{}", executor: "builtin" }), expect: [3, "invalid function id"] },
  { rpc: "createTask", as: "doA", on: "unsupported executor", req: () => ({ functionId: f.fnPub, functionArguments: '{"message":"m"}', executor: "cobol" }), expect: [3, "Unsupported executor: cobol"] },
  { rpc: "createTask", as: "doA", on: "undeclared argument", req: () => ({ functionId: f.fnPub, functionArguments: '{"message":"m","x":1}', executor: "builtin" }), expect: [3, "invalid task"] },

  { rpc: "getTask", as: "doA", on: "own task", req: () => ({ taskId: f.taskA }), expect: "ok", check: (r) => { assert.equal(r.creator, "doA"); assert.deepEqual(r.participants, ["doA"]) } },
  { rpc: "getTask", as: "doA2", on: "task it participates in", req: async () => ({ taskId: await sharedTask() }), expect: "ok", check: (r) => { assert.deepEqual(r.participants, ["doA", "doA2"]); assert.equal(r.status, common.TaskStatus.Created) } },
  { rpc: "getTask", as: "mgr", on: "task of a data owner of its group", req: () => ({ taskId: f.taskA }), expect: DENIED },
  { rpc: "getTask", as: "admin", on: "task it does not participate in (admin not exempt)", req: () => ({ taskId: f.taskA }), expect: DENIED },
  { rpc: "getTask", as: "admin", on: "own task on a private function", req: async () => ({ taskId: await simpleTask("admin", f.fnPriv) }), expect: "ok", check: (r) => assert.deepEqual(r.participants, ["admin", "fo"]) },
  { rpc: "getTask", as: "doA", on: "unknown task", req: () => ({ taskId: NO_SUCH_TASK }), expect: [3, "invalid task id"] },

  { rpc: "assignData", as: "doA2", on: "own input to the name it owns", req: async () => ({ taskId: await sharedTask(), inputs: [{ dataName: "in", dataId: await inputFile(as.doA2) }], }), expect: "ok" },
  { rpc: "assignData", as: "doA", on: "own input to a name owned by another (owner sets differ)", req: async () => ({ taskId: await sharedTask(), inputs: [{ dataName: "in", dataId: f.inA }] }), expect: DENIED },
  { rpc: "assignData", as: "doA2", on: "another owner's input", req: async () => ({ taskId: await sharedTask(), inputs: [{ dataName: "in", dataId: f.inA }] }), expect: DENIED },
  { rpc: "assignData", as: "doA2", on: "one valid and one invalid entry (all or nothing)", req: async () => ({ taskId: await sharedTask(), inputs: [{ dataName: "in", dataId: await inputFile(as.doA2) }, { dataName: "nope", dataId: await inputFile(as.doA2) }] }), expect: DENIED },
  { rpc: "assignData", as: "mgr", on: "task it does not participate in", req: async () => ({ taskId: await sharedTask(), inputs: [{ dataName: "in", dataId: f.inMgr }] }), expect: DENIED },
  { rpc: "assignData", as: "admin", on: "task it does not participate in", req: async () => ({ taskId: await sharedTask(), inputs: [] }), expect: DENIED },
  { rpc: "assignData", as: "doA", on: "a canceled task", req: async () => { const taskId = await simpleTask("doA"); await as.doA.cancelTask(taskId); return { taskId }; }, expect: [2, "failed to assign data to task"] },

  { rpc: "approveTask", as: "doA", on: "own task without data (single participant)", req: async () => ({ taskId: await simpleTask("doA") }), expect: "ok" },
  { rpc: "approveTask", as: "mgr", on: "own task without data", req: async () => ({ taskId: await simpleTask("mgr") }), expect: "ok" },
  { rpc: "approveTask", as: "admin", on: "own task without data", req: async () => ({ taskId: await simpleTask("admin") }), expect: "ok" },
  { rpc: "approveTask", as: "doA2", on: "task it participates in, data assigned", req: async () => ({ taskId: await assignedSharedTask() }), expect: "ok" },
  { rpc: "approveTask", as: "doA", on: "own task, data not yet assigned", req: async () => ({ taskId: await sharedTask() }), expect: [2, "failed to approve task"] },
  { rpc: "approveTask", as: "doA", on: "own task, already Approved", req: async () => { const taskId = await simpleTask("doA"); await as.doA.approveTask(taskId); return { taskId } }, expect: [2, "failed to approve task"] },
  { rpc: "approveTask", as: "mgr", on: "task it does not participate in", req: async () => ({ taskId: await assignedSharedTask() }), expect: DENIED },
  { rpc: "approveTask", as: "admin", on: "task it does not participate in", req: async () => ({ taskId: await assignedSharedTask() }), expect: DENIED },

  { rpc: "invokeTask", as: "doA", on: "own task", req: async () => ({ taskId: await simpleTask("doA") }), expect: "ok" },
  { rpc: "invokeTask", as: "mgr", on: "own task", req: async () => ({ taskId: await simpleTask("mgr") }), expect: "ok" },
  { rpc: "invokeTask", as: "admin", on: "own task", req: async () => ({ taskId: await simpleTask("admin") }), expect: "ok" },
  { rpc: "invokeTask", as: "doA2", on: "task it participates in but did not create", req: async () => { const taskId = await assignedSharedTask(); await as.doA.approveTask(taskId); await as.doA2.approveTask(taskId); return { taskId }; }, expect: DENIED },
  { rpc: "invokeTask", as: "doA", on: "own task, not approved by every participant", req: async () => ({ taskId: await assignedSharedTask() }), expect: [2, "failed to invoke task"] },
  { rpc: "invokeTask", as: "doA", on: "own task, function quota (1) used up", req: async () => { const fn = await echoFunction({ usageQuota: 1 }); await as.doA.invokeTask(await simpleTask("doA", fn)); return { taskId: await simpleTask("doA", fn) } }, expect: [2, "function quota has been used up"] },
  { rpc: "invokeTask", as: "doA", on: "own task, already staged", req: async () => { const taskId = await simpleTask("doA"); await as.doA.invokeTask(taskId); return { taskId } }, expect: [2, "failed to invoke task"] },
  { rpc: "invokeTask", as: "mgr", on: "task it does not participate in", req: async () => ({ taskId: await simpleTask("doA") }), expect: DENIED },
  { rpc: "invokeTask", as: "admin", on: "task it did not create", req: async () => ({ taskId: await simpleTask("doA") }), expect: DENIED },

  { rpc: "cancelTask", as: "doA", on: "own task", req: async () => ({ taskId: await simpleTask("doA") }), expect: "ok" },
  { rpc: "cancelTask", as: "mgr", on: "own task", req: async () => ({ taskId: await simpleTask("mgr") }), expect: "ok" },
  { rpc: "cancelTask", as: "admin", on: "task it did not create (admin exempt)", req: async () => ({ taskId: await simpleTask("doA") }), expect: "ok" },
  { rpc: "cancelTask", as: "doA2", on: "task it participates in but did not create", req: async () => ({ taskId: await sharedTask() }), expect: DENIED },
  { rpc: "cancelTask", as: "mgr", on: "task it does not participate in", req: async () => ({ taskId: await simpleTask("doA") }), expect: DENIED },
  { rpc: "cancelTask", as: "doA", on: "own task, already canceled", req: async () => { const taskId = await simpleTask("doA"); await as.doA.cancelTask(taskId); return { taskId }; }, expect: [2, "failed to cancel task, reason: task has already been canceled"] },

  // §10.2
  { rpc: "queryAuditLogs", as: "admin", on: "all entries", req: () => ({ query: "*", limit: 10 }), expect: "ok", check: (r) => assert.ok(Array.isArray(r.logs)) },
];

/** A request the gate rows send: well-formed, naming existing objects, so only the gate can refuse it. */
const GATE_REQUEST: Record<Rpc, () => object> = {
  registerInputFile: () => ({ url: "https://files.example/x/in", cmac: CMAC, cryptoInfo: wireCrypto() }),
  registerOutputFile: () => ({ url: "https://files.example/x/out", cryptoInfo: wireCrypto() }),
  updateInputFile: () => ({ dataId: f.inA, url: "https://files.example/x/in2" }),
  updateOutputFile: () => ({ dataId: f.outA, url: "https://files.example/x/out2" }),
  registerFusionOutput: () => ({ ownerList: ["doA", "doA2"] }),
  registerInputFromOutput: () => ({ dataId: f.outA }),
  getOutputFile: () => ({ dataId: f.outA }),
  getInputFile: () => ({ dataId: f.inA }),
  registerFunction: () => ({ name: "builtin-echo", executorType: "builtin" }),
  getFunction: () => ({ functionId: f.fnPub }),
  getFunctionUsageStats: () => ({ functionId: f.fnPub }),
  updateFunction: () => ({ functionId: f.fnPub, name: "builtin-echo", executorType: "builtin" }),
  listFunctions: () => ({ userId: "fo" }),
  deleteFunction: () => ({ functionId: f.fnPub }),
  disableFunction: () => ({ functionId: f.fnPub }),
  createTask: () => ({ functionId: f.fnPub, functionArguments: '{"message":"m"}', executor: "builtin" }),
  getTask: () => ({ taskId: f.taskA }),
  assignData: () => ({ taskId: f.taskA }),
  approveTask: () => ({ taskId: f.taskA }),
  invokeTask: () => ({ taskId: f.taskA }),
  cancelTask: () => ({ taskId: f.taskA }),
  queryAuditLogs: () => ({ query: "*", limit: 10 }),
};

// ---- the run ---------------------------------------------------------------------------------

before(async () => {
  platform = await launch({ seed: (dataDir) => seedInvalidUser(dataDir, "nobody", "pw") });
  as.admin = await session(platform, "admin", "teaclave");
  for (const [id, u] of Object.entries(USERS)) {
    if (u.register) await as.admin.registerUser(id, "pw", u.register[0], u.register[1]);
    if (id !== "admin") as[id as Actor] = await session(platform, id);
  }
  f.fnPub = await echoFunction();
  f.fnPriv = await echoFunction({
    public: false,
    payload: Buffer.from("secret payload"),
    userAllowlist: ["doA"],
  });
  f.fnPrivA = await echoFunction({ public: false, userAllowlist: ["A"] });
  f.fnStats = await echoFunction({ usageQuota: 5 });
  f.fnShared = await echoFunction({ inputs: [{ name: "in", description: "", optional: false }] });
  f.inA = await inputFile(as.doA);
  f.outA = await outputFile(as.doA);
  f.inMgr = await inputFile(as.mgr);
  f.outMgr = await outputFile(as.mgr);
  f.fusion = (await as.doA.call("registerFusionOutput", { ownerList: ["doA", "doA2"] })).dataId;
  f.taskA = await simpleTask("doA");
});

after(async () => {
  for (const c of Object.values(as)) c.close();
  await platform?.stop();
});

describe("authorisation matrix: every frontend RPC × every role (behaviour.md §3–§6)", () => {
  test("the tables cover all 22 TeaclaveFrontend RPCs, and every role the gate admits has per-object rows", () => {
    assert.deepEqual(Object.keys(frontend.TeaclaveFrontendService).sort(), [...RPCS].sort());
    assert.equal(RPCS.length, 22);
    const missing: string[] = [];
    for (const rpc of RPCS)
      for (const actor of COLUMNS) {
        const role = USERS[actor].role;
        if (passesGate(rpc, role) && !ROWS.some((r) => r.rpc === rpc && USERS[r.as].role === role))
          missing.push(`${snake(rpc)} × ${role}`);
      }
    assert.deepEqual(missing, []);
  });

  describe("§3.2 the role/API gate refuses with 7 `permission denied`", () => {
    for (const rpc of RPCS)
      for (const actor of COLUMNS) {
        const role = USERS[actor].role;
        if (passesGate(rpc, role)) continue;
        test(`${snake(rpc)} as ${role} (${actor})`, async () => {
          await rejectsWith(call(actor, rpc, GATE_REQUEST[rpc]()), 7, "permission denied");
        });
      }
  });

  describe("§4–§6 per-object rules behind the gate", () => {
    for (const row of ROWS) {
      const outcome = row.expect === "ok" ? "ok" : `${row.expect[0]} ${row.expect[1]}`;
      test(`${snake(row.rpc)} as ${USERS[row.as].role} (${row.as}) on ${row.on} → ${outcome}`, async () => {
        assert.ok(
          passesGate(row.rpc, USERS[row.as].role),
          "a per-object row must be for a role the gate admits",
        );
        const request = await row.req();
        if (row.expect === "ok") {
          const response = await call(row.as, row.rpc, request);
          await row.check?.(response);
        } else {
          await rejectsWith(
            call(row.as, row.rpc, request),
            row.expect[0],
            row.expect[1],
            `${row.rpc} as ${row.as}`,
          );
        }
      });
    }
  });

  describe("§3.1 credentials", () => {
    for (const rpc of RPCS) {
      test(`${snake(rpc)} without metadata → 16 missing user id; with an id but no token → 16 missing token`, async () => {
        const c = client(platform);
        try {
          const attempt = () => send(c, rpc, GATE_REQUEST[rpc]());
          await rejectsWith(attempt(), 16, "missing user id");
          c.session = { id: "admin", token: undefined as unknown as string };
          await rejectsWith(attempt(), 16, "missing token");
          c.session = { id: "admin", token: "" };
          await rejectsWith(attempt(), 16, "missing token");
          c.session = { id: "", token: as.admin.session!.token };
          await rejectsWith(attempt(), 16, "missing user id");
        } finally {
          c.close();
        }
      });
    }
    test("the Invalid user's token is genuine (it authenticates) yet passes no gate", async () => {
      // Its own authentication-API call succeeds, so the 7s above come from the gate, not the token.
      await as.nobody.authCall("userChangePassword", { password: "pw" });
      await rejectsWith(as.nobody.getTask(f.taskA), 7, "permission denied");
    });
  });

  describe("§2.6 authentication API: who may manage whom (UserUpdate as reset and delete)", () => {
    const UNAUTH_DENIED = [16, "permission denied"] as const;
    /** A fresh account per row, registered by the admin, so rows never share state. */
    let n = 0;
    const fresh = async (role: string, attribute = "") => {
      const id = `target-${++n}`;
      await as.admin.registerUser(id, "pw", role, attribute);
      return id;
    };
    // biome-ignore format: one row per line keeps the matrix readable
    const AUTH_ROWS: { as: Actor; rpc: "updateUser" | "resetUserPassword" | "deleteUser"; on: string; target: () => Promise<string>; expect: "ok" | typeof UNAUTH_DENIED }[] = [
      { as: "mgr", rpc: "updateUser", on: "a DataOwner of its group", target: () => fresh("DataOwner", "A"), expect: "ok" },
      { as: "mgr", rpc: "updateUser", on: "a PlatformAdmin", target: () => fresh("PlatformAdmin"), expect: UNAUTH_DENIED },
      { as: "mgr", rpc: "updateUser", on: "the bootstrap admin", target: async () => "admin", expect: UNAUTH_DENIED },
      { as: "mgr", rpc: "updateUser", on: "a FunctionOwner", target: () => fresh("FunctionOwner"), expect: UNAUTH_DENIED },
      { as: "mgr", rpc: "updateUser", on: "a DataOwner of another group", target: () => fresh("DataOwner", "B"), expect: UNAUTH_DENIED },
      { as: "mgr", rpc: "updateUser", on: "another DataOwnerManager of its group", target: () => fresh("DataOwnerManager", "A"), expect: UNAUTH_DENIED },
      { as: "mgr", rpc: "updateUser", on: "itself", target: async () => "mgr", expect: UNAUTH_DENIED },
      { as: "fo", rpc: "updateUser", on: "a DataOwner", target: () => fresh("DataOwner", "A"), expect: UNAUTH_DENIED },
      { as: "doA", rpc: "updateUser", on: "a DataOwner of its group", target: () => fresh("DataOwner", "A"), expect: UNAUTH_DENIED },
      { as: "admin", rpc: "updateUser", on: "a FunctionOwner", target: () => fresh("FunctionOwner"), expect: "ok" },
      { as: "mgr", rpc: "resetUserPassword", on: "a DataOwner of its group", target: () => fresh("DataOwner", "A"), expect: "ok" },
      { as: "mgr", rpc: "resetUserPassword", on: "a FunctionOwner", target: () => fresh("FunctionOwner"), expect: UNAUTH_DENIED },
      { as: "mgr", rpc: "deleteUser", on: "a DataOwner of its group", target: () => fresh("DataOwner", "A"), expect: "ok" },
      { as: "mgr", rpc: "deleteUser", on: "a PlatformAdmin", target: () => fresh("PlatformAdmin"), expect: UNAUTH_DENIED },
    ];
    for (const row of AUTH_ROWS) {
      const outcome = row.expect === "ok" ? "ok" : `${row.expect[0]} ${row.expect[1]}`;
      test(`${row.rpc} as ${USERS[row.as].role} (${row.as}) on ${row.on} → ${outcome}`, async () => {
        const target = await row.target();
        const attempt = () =>
          row.rpc === "updateUser"
            ? as[row.as].updateUser(target, "taken", "DataOwner", "A")
            : row.rpc === "resetUserPassword"
              ? as[row.as].resetUserPassword(target)
              : as[row.as].deleteUser(target);
        if (row.expect === "ok") {
          await attempt();
          if (row.rpc === "updateUser") (await session(platform, target, "taken")).close();
          return;
        }
        await rejectsWith(attempt(), row.expect[0], row.expect[1]);
        // Nothing changed: the target keeps its password (and so its role and data).
        const password = target === "admin" ? "teaclave" : "pw";
        const c = await session(platform, target, password);
        c.close();
      });
    }
  });

  describe("effects behind the rows", () => {
    test("AssignData is all or nothing: after a refused entry nothing of the call is assigned", async () => {
      const taskId = await sharedTask();
      const good = await inputFile(as.doA2);
      await rejectsWith(as.doA2.assignData(taskId, { in: good, nope: good }), 7, "permission denied");
      assert.deepEqual((await as.doA2.getTask(taskId)).assignedInputs, []);
      await as.doA2.assignData(taskId, { in: good });
      assert.deepEqual((await as.doA2.getTask(taskId)).assignedInputs, [{ dataName: "in", dataId: good }]);
    });

    test("DisableFunction empties the allowlist and the users' lists (§4.2)", async () => {
      const fn = await echoFunction({ public: false, userAllowlist: ["doA2"] });
      assert.ok((await as.doA2.call("listFunctions", { userId: "doA2" })).allowedFunctions.includes(fn));
      await call("doA2", "getFunction", { functionId: fn });
      await as.fo.call("disableFunction", { functionId: fn });
      assert.equal(
        (await as.doA2.call("listFunctions", { userId: "doA2" })).allowedFunctions.includes(fn),
        false,
      );
      assert.equal(
        (await as.fo.call("listFunctions", { userId: "fo" })).registeredFunctions.includes(fn),
        false,
      );
      await rejectsWith(call("doA2", "getFunction", { functionId: fn }), 7, "permission denied");
      assert.deepEqual((await as.fo.call("getFunction", { functionId: fn })).userAllowlist, []);
    });

    test("UpdateFunction replaces every field; DeleteFunction makes the id unknown", async () => {
      const fn = await echoFunction({ description: "before", userAllowlist: ["x"] });
      await call("fo", "updateFunction", {
        functionId: fn,
        name: "builtin-echo",
        description: "after",
        executorType: "builtin",
        public: true,
      });
      const got = await as.fo.call("getFunction", { functionId: fn });
      assert.deepEqual(
        { d: got.description, a: got.arguments, l: got.userAllowlist, p: got.public },
        { d: "after", a: [], l: [], p: true },
      );
      await as.fo.call("deleteFunction", { functionId: fn });
      await rejectsWith(as.fo.call("getFunction", { functionId: fn }), 3, "invalid function id");
    });

    test("GetFunctionUsageStats counts successful invocations", async () => {
      const fn = await echoFunction({ usageQuota: 3 });
      await as.doA.invokeTask(await simpleTask("doA", fn));
      await as.mgr.invokeTask(await simpleTask("mgr", fn));
      assert.deepEqual(await as.doA.call("getFunctionUsageStats", { functionId: fn }), {
        functionQuota: 3,
        currentUsage: 2,
      });
    });
  });

  describe("state after the rows ran", () => {
    test("a canceled not-yet-staged task reads Canceled with `Task canceled`; invoked echo tasks finish", async () => {
      const taskId = await simpleTask("doA");
      await as.doA.cancelTask(taskId);
      const t = await as.doA.getTask(taskId);
      assert.equal(t.status, common.TaskStatus.Canceled);
      assert.equal(t.result?.Err?.reason, "Task canceled");
      const run = await simpleTask("mgr");
      await as.mgr.invokeTask(run);
      assert.equal((await as.mgr.taskResult(run, { timeoutMs: 30_000 })).toString(), "hi");
    });
  });
});
