import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { common } from "@cloister/proto";
import type { CloisterClient } from "@cloister/sdk";
import { type EtcdCluster, startEtcdCluster } from "@cloister/storage/test-support/etcd-cluster";
import { client, ECHO_FUNCTION, type Platform, platformConfig, startPlatform } from "../src/index.js";

// The platform on a three-member etcd cluster; the leader is killed (SIGKILL) while four clients
// keep submitting tasks. Every task whose InvokeTask was acknowledged must still finish, with its
// own result, once the cluster has elected a new leader — without anyone restarting anything.
let cluster: EtcdCluster;
let platform: Platform;

before(async () => {
  cluster = await startEtcdCluster(3);
  const endpoints = cluster.endpoints.map((e) => `"${e}"`).join(", ");
  platform = await startPlatform(
    await platformConfig(undefined, `[storage]\nbackend = "etcd"\netcd_endpoints = [${endpoints}]\n`),
  );
});
after(async () => {
  await platform?.stop();
  await cluster?.stop();
});

test("etcd leader killed under load: every acknowledged task finishes", async () => {
  const CLIENTS = 4;
  const PER_CLIENT = 8;
  const clients: CloisterClient[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    const c = client(platform);
    await c.login("admin", "teaclave");
    clients.push(c);
  }
  const fn = await clients[0]!.registerFunction(ECHO_FUNCTION);
  const acknowledged: Array<{ c: CloisterClient; taskId: string; message: string }> = [];
  let refused = 0;
  let killed = false;
  const killLeader = async () => {
    killed = true;
    const leader = await cluster.leader();
    await cluster.kill(leader);
  };
  await Promise.all(
    clients.map(async (c, ci) => {
      for (let i = 0; i < PER_CLIENT; i++) {
        const message = `c${ci}-t${i}`;
        if (!killed && acknowledged.length >= 6) await killLeader();
        try {
          const taskId = await c.createTask({ functionId: fn, arguments: { message }, executor: "builtin" });
          await c.invokeTask(taskId);
          acknowledged.push({ c, taskId, message });
        } catch {
          // Not acknowledged (the store was electing a leader): the client would retry; we count it.
          refused++;
        }
      }
    }),
  );
  assert.ok(killed, "the leader was killed during the run");
  assert.ok(
    acknowledged.length >= 10,
    `only ${acknowledged.length} tasks were acknowledged (${refused} refused)`,
  );
  for (const { c, taskId, message } of acknowledged) {
    const task = await c.waitForTask(taskId, { timeoutMs: 120_000 });
    assert.equal(
      task.status,
      common.TaskStatus.Finished,
      `${taskId}: ${common.taskStatusToJSON(task.status)}`,
    );
    assert.equal(Buffer.from(task.result!.Ok!.returnValue).toString(), message);
  }
  for (const c of clients) c.close();
});
