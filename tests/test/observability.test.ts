import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { SERVICE_NAMES } from "@cloister/config";
import { health } from "@cloister/proto";
import { attestedChannelCredentials, callUnary, createClient } from "@cloister/rpc";
import { policyFor, trustFromDataDir } from "@cloister/sdk";
import { verifyAttestedCertificate } from "@cloister/tee";
import { client, echo, type Platform, startPlatform } from "../src/index.js";

// Every service's operations endpoint (metrics, health, version) on a running platform, and
// grpc.health.v1 on an attested port.
const SERVICES = SERVICE_NAMES;
let platform: Platform;
const ops: Record<string, string> = {};

before(async () => {
  platform = await startPlatform();
  for (const s of SERVICES) ops[s] = `127.0.0.1:${platform.ports[`ops_${s}`]}`;
});
after(async () => {
  await platform?.stop();
});

const get = async (service: string, path: string) => {
  const r = await fetch(`http://${ops[service]}${path}`);
  return { status: r.status, type: r.headers.get("content-type") ?? "", body: await r.text() };
};

/** Sum of a series' samples whose labels contain every given label. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      sum += Number(line.split(" ").pop());
  }
  return sum;
}

describe("operations endpoints", () => {
  test("every service serves metrics, liveness, readiness and its version off the attested ports", async () => {
    for (const s of SERVICES) {
      const m = await get(s, "/metrics");
      assert.equal(m.status, 200, s);
      assert.match(m.type, /text\/plain/);
      assert.match(m.body, /cloister_process_resident_memory_bytes/, s);
      assert.match(m.body, new RegExp(`service="${s}"`), s);
      assert.equal((await get(s, "/livez")).status, 200, s);
      const v = JSON.parse((await get(s, "/version")).body);
      assert.equal(v.service, s);
      assert.match(v.mrEnclave, /^[0-9a-f]{64}$/);
      assert.equal((await get(s, "/nope")).status, 404);
    }
  });

  test("readiness names each dependency and is ready when all answer", async () => {
    const deadline = Date.now() + 30_000;
    for (const s of SERVICES) {
      let r = await get(s, "/readyz");
      while (r.status !== 200 && Date.now() < deadline) {
        await new Promise((res) => setTimeout(res, 500));
        r = await get(s, "/readyz");
      }
      assert.equal(r.status, 200, `${s}: ${r.body}`);
      const report = JSON.parse(r.body);
      assert.equal(report.ready, true);
      const names = report.checks.map((c: { name: string }) => c.name);
      if (s === "management" || s === "scheduler") assert.ok(names.includes("storage"), `${s}: ${names}`);
      if (s === "execution") {
        assert.ok(names.includes("scheduler"), `${s}: ${names}`);
        assert.ok(names.includes("executors"), `${s}: ${names}`);
      }
    }
  });

  test("RPC and task series move with traffic", async () => {
    const before = {
      frontend: sample((await get("frontend", "/metrics")).body, "cloister_rpc_requests_total", {
        code: "OK",
      }),
      finished: sample((await get("scheduler", "/metrics")).body, "cloister_tasks_total", {
        state: "finished",
      }),
    };
    const c = client(platform);
    try {
      await c.login("admin", "teaclave");
      assert.equal(await echo(c, "metrics"), "metrics");
    } finally {
      c.close();
    }
    const fe = (await get("frontend", "/metrics")).body;
    assert.ok(sample(fe, "cloister_rpc_requests_total", { code: "OK" }) >= before.frontend + 4);
    assert.ok(
      sample(fe, "cloister_rpc_duration_seconds_count", { method: "TeaclaveFrontend/InvokeTask" }) >= 1,
    );
    const sched = (await get("scheduler", "/metrics")).body;
    assert.ok(sample(sched, "cloister_tasks_total", { state: "finished" }) >= before.finished + 1);
    const auth = (await get("authentication", "/metrics")).body;
    assert.ok(
      sample(auth, "cloister_rpc_requests_total", { method: "TeaclaveAuthenticationApi/UserLogin" }) >= 1,
    );
  });

  test("task path series exist and move: queue depth, task duration, pools, storage latency", async () => {
    const storageOps = () =>
      get("storage", "/metrics").then((m) => sample(m.body, "cloister_storage_operation_seconds_count"));
    const durations = () =>
      get("execution", "/metrics").then((m) =>
        sample(m.body, "cloister_task_duration_seconds_count", { executor: "builtin", outcome: "ok" }),
      );
    const before = { storage: await storageOps(), tasks: await durations() };
    const c = client(platform);
    try {
      await c.login("admin", "teaclave");
      assert.equal(await echo(c, "series"), "series");
    } finally {
      c.close();
    }
    assert.ok((await durations()) >= before.tasks + 1, "task duration by executor moved");
    assert.ok((await storageOps()) > before.storage, "storage latency moved");
    const st = (await get("storage", "/metrics")).body;
    assert.ok(sample(st, "cloister_storage_operation_seconds_count", { operation: "get" }) > 0);
    const ex = (await get("execution", "/metrics")).body;
    // Warm sandbox pools: their sizes by state, and how long each start took.
    assert.match(ex, /cloister_pool_instances\{[^}]*pool="javascript"[^}]*state="spare"/);
    assert.ok(sample(ex, "cloister_pool_refill_seconds_count") >= 1, "pool refills observed");
    // The scheduler refreshes the queue gauges every few seconds.
    const deadline = Date.now() + 15_000;
    let sched = (await get("scheduler", "/metrics")).body;
    while (!/cloister_queue_depth\{[^}]*queue="staged"/.test(sched) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      sched = (await get("scheduler", "/metrics")).body;
    }
    assert.match(sched, /cloister_queue_depth\{[^}]*queue="staged"[^}]*\} \d+/);
    assert.match(sched, /cloister_queue_depth\{[^}]*queue="running"[^}]*\} \d+/);
  });

  test("grpc.health.v1 answers on an attested API port", async () => {
    const trust = trustFromDataDir(platform.dataDir);
    const policy = policyFor(trust, "teaclave_frontend_service");
    const hc = createClient(
      health.HealthClient,
      platform.frontend,
      attestedChannelCredentials({ verifyServer: (der: Buffer) => verifyAttestedCertificate(der, policy) }),
    );
    try {
      const whole = await callUnary(hc, "check", { service: "" }, { deadlineMs: 10_000 });
      assert.equal(whole.status, health.HealthCheckResponse_ServingStatus.SERVING);
      const named = await callUnary(
        hc,
        "check",
        { service: "teaclave_frontend_service_proto.TeaclaveFrontend" },
        { deadlineMs: 10_000 },
      );
      assert.equal(named.status, health.HealthCheckResponse_ServingStatus.SERVING);
      await assert.rejects(
        callUnary(hc, "check", { service: "no.such.Service" }, { deadlineMs: 10_000 }),
        (e: { code?: number }) => e.code === 5,
      );
    } finally {
      hc.close();
    }
  });
});
