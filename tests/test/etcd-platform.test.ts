import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { EtcdStore } from "@cloister/storage";
import { type EtcdServer, startEtcd } from "@cloister/storage/test-support/etcd";
import { client, echo, type Platform, platformConfig, startPlatform } from "../src/index.js";

// The whole platform on the distributed state store: storage and authentication keep their
// sealed state in a real etcd (Debian etcd-server) instead of LevelDB.
let etcd: EtcdServer;
let platform: Platform;

before(async () => {
  etcd = await startEtcd();
  const setup = await platformConfig(
    undefined,
    `[storage]\nbackend = "etcd"\netcd_endpoints = ["${etcd.endpoint}"]\n`,
  );
  platform = await startPlatform(setup);
});
after(async () => {
  await platform?.stop();
  await etcd?.stop();
});

test("a task runs end to end with all platform state in etcd, sealed", async () => {
  const c = client(platform);
  try {
    await c.login("admin", "teaclave");
    assert.equal(await echo(c, "stored in etcd"), "stored in etcd");
  } finally {
    c.close();
  }
  // The records are in etcd under the platform's namespaces, and none of them is plaintext.
  const raw = await EtcdStore.open({ endpoints: [etcd.endpoint] });
  try {
    const keys = (await raw.keysByPrefix(Buffer.from("cloister/"))).map((k) => k.toString());
    assert.ok(
      keys.some((k) => k.startsWith("cloister/storage/task-")),
      keys.join(", "),
    );
    assert.ok(
      keys.some((k) => k.startsWith("cloister/authentication/user/admin")),
      keys.join(", "),
    );
    for (const key of keys) {
      const value = (await raw.get(Buffer.from(key))) ?? Buffer.alloc(0);
      assert.ok(!value.includes(Buffer.from("stored in etcd")), `${key} holds plaintext`);
      assert.ok(!value.includes(Buffer.from("builtin-echo")), `${key} holds plaintext`);
    }
  } finally {
    await raw.close();
  }
});
