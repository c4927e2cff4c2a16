#!/usr/bin/env node
import { readFileSync, writeFileSync } from "node:fs";
import { Command } from "commander";
import { loadConfig } from "@cloister/config";
import { ConfigError } from "@cloister/core";
import { decryptFile, encryptFile, generateFileCryptoInfo, parseFileCryptoInfo } from "@cloister/crypto";
import { preparePlatform } from "@cloister/host";
import { common, frontend } from "@cloister/proto";
import { signEnclaveInfo, verifyEnclaveInfoSignatures } from "@cloister/tee";
import { attest } from "./commands/attest.js";
import { type ClientFlags, hex, openClient, pairs, saveSession } from "./commands/client.js";
import { runService } from "./commands/service.js";
import { up } from "./commands/up.js";

const program = new Command();
program
  .name("cloister")
  .description("Cloister: confidential-computing functions as a service (Teaclave-compatible)")
  .option("--data-dir <dir>", "platform data directory", process.env.CLOISTER_HOME ?? "./.cloister")
  .option("--config <file>", "configuration file (TOML)")
  .option("--json", "machine-readable output");

const globals = () => program.opts<{ dataDir: string; config?: string; json?: boolean }>();
const config = () => loadConfig({ file: globals().config, overrides: { data_dir: globals().dataDir } });
const print = (human: string, json: unknown) => console.log(globals().json ? JSON.stringify(json, null, 2) : human);

program
  .command("up")
  .description("start the whole platform on this machine (all services, embedded defaults)")
  .action(async () => up(config(), { configFile: globals().config }));

program
  .command("service <name>")
  .description("run one service: authentication, frontend, management, storage, access_control, scheduler, execution")
  .action(async (name: string) => runService(name.replace("-", "_"), config()));

const platform = program.command("platform").description("platform set-up");
platform
  .command("init")
  .description("create the attestation root, measure every service and write a signed enclave_info.toml")
  .action(async () => {
    const p = await preparePlatform(config());
    print(`as_root_ca: ${p.asRootCa}\nenclave_info: ${p.enclaveInfo}\nsignature: ${p.auditorSignature}`, p);
  });

program
  .command("attest <address>")
  .description("verify an endpoint's attestation and print its measurement, signer and whether it is simulated")
  .option("--as-root-ca <file>", "attestation-service root CA (default: <data-dir>/as_root_ca.pem)")
  .option("--enclave-info <file>", "accepted measurements (default: <data-dir>/enclave_info.toml)")
  .option("--enclave <name>", "expected enclave, e.g. teaclave_frontend_service")
  .action(async (address: string, o: { asRootCa?: string; enclaveInfo?: string; enclave?: string }) => {
    const dir = globals().dataDir;
    console.log(
      await attest(address, {
        asRootCa: o.asRootCa ?? `${dir}/as_root_ca.pem`,
        enclaveInfo: o.enclaveInfo ?? `${dir}/enclave_info.toml`,
        enclave: o.enclave,
        json: globals().json ?? false,
      }),
    );
  });

const enclaveInfo = program.command("enclave-info").description("auditor signatures over enclave_info.toml");
enclaveInfo
  .command("sign <file>")
  .requiredOption("--key <pem>", "auditor private key")
  .requiredOption("--out <file>", "signature file to write")
  .action((file: string, o: { key: string; out: string }) => {
    writeFileSync(o.out, signEnclaveInfo(readFileSync(file), readFileSync(o.key, "utf8")));
    print(`signed ${file} → ${o.out}`, { signature: o.out });
  });
enclaveInfo
  .command("verify")
  .requiredOption("--enclave-info <file>")
  .requiredOption("--public-keys <pem...>")
  .requiredOption("--signatures <file...>")
  .action((o: { enclaveInfo: string; publicKeys: string[]; signatures: string[] }) => {
    verifyEnclaveInfoSignatures(
      readFileSync(o.enclaveInfo),
      o.signatures.map((s) => readFileSync(s)),
      o.publicKeys.map((k) => readFileSync(k, "utf8")),
    );
    print("Verify successfully.", { verified: true });
  });

// ----- client commands -----
const clientOptions = (c: Command) =>
  c
    .option("--authentication <host:port>", "authentication API", "localhost:7776")
    .option("--frontend <host:port>", "frontend API", "localhost:7777")
    .option("--as-root-ca <file>")
    .option("--enclave-info <file>")
    .option("--session <file>", "where the login session is kept");
const flags = (o: Record<string, unknown>): ClientFlags => ({ ...(o as object), dataDir: globals().dataDir }) as ClientFlags;

const user = program.command("user").description("users and sessions");
clientOptions(user.command("login <id>"))
  .option("--password <password>", "password (default: $CLOISTER_PASSWORD)")
  .action(async (id: string, o) => {
    const password = o.password ?? process.env.CLOISTER_PASSWORD;
    if (!password) throw new ConfigError("give --password or set CLOISTER_PASSWORD");
    const client = openClient(flags(o), false);
    const token = await client.login(id, password);
    const path = saveSession(flags(o), { id, token });
    client.close();
    print(`logged in as ${id} (session saved in ${path})`, { id, session: path });
  });
clientOptions(user.command("register <id>"))
  .requiredOption("--password <password>")
  .requiredOption("--role <role>", "PlatformAdmin, FunctionOwner, DataOwnerManager or DataOwner")
  .option("--attribute <group>", "data owner group", "")
  .action(async (id: string, o) => {
    const client = openClient(flags(o));
    await client.registerUser(id, o.password, o.role, o.attribute);
    client.close();
    print(`registered ${id}`, { id });
  });

const fn = program.command("function").description("functions");
clientOptions(fn.command("register"))
  .requiredOption("--name <name>", "function name (selects the builtin for executor type builtin)")
  .option("--description <text>", "", "")
  .option("--executor-type <type>", "builtin, python, wamr, javascript", "builtin")
  .option("--payload <file>", "function code")
  .option("--argument <spec...>", "declared argument: key or key=default (overwritable)")
  .option("--input <name...>", "declared input")
  .option("--output <name...>", "declared output")
  .option("--private", "only allow-listed users may use it")
  .action(async (o) => {
    const client = openClient(flags(o));
    const id = await client.registerFunction({
      name: o.name,
      description: o.description,
      executorType: o.executorType,
      public: !o.private,
      payload: o.payload ? readFileSync(o.payload) : Buffer.alloc(0),
      arguments: ((o.argument as string[]) ?? []).map((a) => {
        const [key = "", def = ""] = a.split("=");
        return { key, defaultValue: def, allowOverwrite: true };
      }),
      inputs: ((o.input as string[]) ?? []).map((name) => ({ name, description: "", optional: false })),
      outputs: ((o.output as string[]) ?? []).map((name) => ({ name, description: "", optional: false })),
    });
    client.close();
    print(id, { function_id: id });
  });
clientOptions(fn.command("get <id>")).action(async (id: string, o) => {
  const client = openClient(flags(o));
  const r = await client.call("getFunction", { functionId: id });
  client.close();
  const view = frontend.GetFunctionResponse.toJSON({ ...r, payload: Buffer.alloc(0) });
  print(JSON.stringify(view, null, 2), view);
});

const data = program.command("data").description("input and output files");
clientOptions(data.command("register-input"))
  .requiredOption("--url <url>")
  .requiredOption("--cmac <hex>")
  .requiredOption("--schema <schema>")
  .option("--key <hex>")
  .option("--iv <hex>")
  .action(async (o) => {
    const client = openClient(flags(o));
    const r = await client.call("registerInputFile", {
      url: o.url,
      cmac: hex(o.cmac, "cmac"),
      cryptoInfo: { schema: o.schema, key: hex(o.key, "key"), iv: hex(o.iv, "iv") },
    });
    client.close();
    print(r.dataId, { data_id: r.dataId });
  });
clientOptions(data.command("register-output"))
  .requiredOption("--url <url>")
  .requiredOption("--schema <schema>")
  .option("--key <hex>")
  .option("--iv <hex>")
  .action(async (o) => {
    const client = openClient(flags(o));
    const r = await client.call("registerOutputFile", {
      url: o.url,
      cryptoInfo: { schema: o.schema, key: hex(o.key, "key"), iv: hex(o.iv, "iv") },
    });
    client.close();
    print(r.dataId, { data_id: r.dataId });
  });

const task = program.command("task").description("tasks");
clientOptions(task.command("create"))
  .requiredOption("--function <id>")
  .option("--args <json>", "function arguments as a JSON object", "{}")
  .option("--executor <name>", "builtin, mesapy, wamr, javascript", "builtin")
  .option("--input-owner <name=uid,uid...>", "owners of an input")
  .option("--output-owner <name=uid,uid...>", "owners of an output")
  .action(async (o) => {
    const client = openClient(flags(o));
    const owners = (v: string[]) => pairs(v).map(([dataName, uids]) => ({ dataName, uids: uids.split(",") }));
    const id = await client.createTask({
      functionId: o.function,
      arguments: JSON.parse(o.args),
      executor: o.executor,
      inputsOwnership: owners(o.inputOwner),
      outputsOwnership: owners(o.outputOwner),
    });
    client.close();
    print(id, { task_id: id });
  });
clientOptions(task.command("assign <task>"))
  .option("--input <name=dataId...>")
  .option("--output <name=dataId...>")
  .action(async (taskId: string, o) => {
    const client = openClient(flags(o));
    await client.assignData(taskId, Object.fromEntries(pairs(o.input)), Object.fromEntries(pairs(o.output)));
    client.close();
    print("assigned", { task_id: taskId });
  });
const PAST = { approve: "approved", invoke: "invoked", cancel: "canceled" } as const;
for (const verb of ["approve", "invoke", "cancel"] as const) {
  clientOptions(task.command(`${verb} <task>`)).action(async (taskId: string, o) => {
    const client = openClient(flags(o));
    await client[`${verb}Task`](taskId);
    client.close();
    print(`${taskId} ${PAST[verb]}`, { task_id: taskId });
  });
}
clientOptions(task.command("get <task>")).action(async (taskId: string, o) => {
  const client = openClient(flags(o));
  const t = await client.getTask(taskId);
  client.close();
  const view = frontend.GetTaskResponse.toJSON(t);
  print(`${taskId}: ${common.taskStatusToJSON(t.status)}`, view);
});
clientOptions(task.command("result <task>"))
  .option("--timeout <seconds>", "how long to wait", "120")
  .action(async (taskId: string, o) => {
    const client = openClient(flags(o));
    try {
      const value = await client.taskResult(taskId, { timeoutMs: Number(o.timeout) * 1000 });
      const t = await client.getTask(taskId);
      const tags = Object.fromEntries(Object.entries(t.result?.Ok?.tagsMap ?? {}).map(([k, v]) => [k, Buffer.from(v).toString("hex")]));
      print(value.toString("utf8"), { task_id: taskId, return_value: value.toString("utf8"), tags });
    } finally {
      client.close();
    }
  });

const file = program.command("file").description("prepare data: encrypt and decrypt files in the platform's formats");
file
  .command("encrypt <in> <out>")
  .requiredOption("--schema <schema>", "aes-gcm-128, aes-gcm-256 or teaclave-file-128")
  .option("--key <hex>", "key (default: a new random one, printed)")
  .option("--iv <hex>", "iv for aes-gcm (default: random)")
  .action(async (input: string, output: string, o: { schema: string; key?: string; iv?: string }) => {
    const info = o.key
      ? parseFileCryptoInfo({ schema: o.schema, key: hex(o.key, "key"), iv: hex(o.iv, "iv") })
      : generateFileCryptoInfo(o.schema as never);
    const { cmac } = await encryptFile(input, output, info);
    const view = {
      schema: info.schema,
      key: "key" in info ? info.key.toString("hex") : "",
      iv: "iv" in info ? info.iv.toString("hex") : "",
      cmac: cmac.toString("hex"),
    };
    print(`schema ${view.schema}\nkey    ${view.key}\niv     ${view.iv}\ncmac   ${view.cmac}`, view);
  });
file
  .command("decrypt <in> <out>")
  .requiredOption("--schema <schema>")
  .requiredOption("--key <hex>")
  .option("--iv <hex>")
  .option("--cmac <hex>", "expected tag")
  .action(async (input: string, output: string, o: { schema: string; key: string; iv?: string; cmac?: string }) => {
    const info = parseFileCryptoInfo({ schema: o.schema, key: hex(o.key, "key"), iv: hex(o.iv, "iv") });
    const { cmac } = await decryptFile(input, output, info, o.cmac ? hex(o.cmac, "cmac") : undefined);
    print(`decrypted; cmac ${cmac.toString("hex")}`, { cmac: cmac.toString("hex") });
  });

program.parseAsync().catch((e: unknown) => {
  const err = e as { code?: number; message?: string; name?: string };
  console.error(`cloister: ${err.message ?? String(e)}${typeof err.code === "number" ? ` (status ${err.code})` : ""}`);
  process.exit(1);
});
