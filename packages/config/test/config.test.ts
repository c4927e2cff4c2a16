import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ConfigError } from "@cloister/core";
import { loadConfig, targetOf } from "../src/index.js";

test("defaults give the legacy ports and a local data directory", () => {
  const c = loadConfig({ env: {} });
  assert.equal(c.listen.frontend, "0.0.0.0:7777");
  assert.equal(c.listen.scheduler, "0.0.0.0:17780");
  assert.equal(c.storage.backend, "leveldb");
  assert.deepEqual(c.attestation.accepted_statuses, ["OK"]);
  assert.ok(c.data_dir.endsWith(".cloister"));
});

test("file < environment < overrides", () => {
  const dir = mkdtempSync(join(tmpdir(), "cfg-"));
  const file = join(dir, "c.toml");
  writeFileSync(file, 'data_dir = "/x"\n[storage]\nbackend = "etcd"\netcd_endpoints = ["http://a:2379"]\n');
  const c = loadConfig({ file, env: { CLOISTER_HOME: "/y" }, overrides: { data_dir: "/z" } });
  assert.equal(c.data_dir, "/z");
  assert.equal(c.storage.backend, "etcd");
  assert.deepEqual(loadConfig({ file, env: { CLOISTER_HOME: "/y" } }).data_dir, "/y");
});

test("invalid values are rejected with the offending key", () => {
  const dir = mkdtempSync(join(tmpdir(), "cfg-"));
  const file = join(dir, "c.toml");
  writeFileSync(file, '[advertised]\nmanagement = "localhost:17777"\n');
  assert.throws(
    () => loadConfig({ file, env: {} }),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /advertised\.management/);
      return true;
    },
  );
  writeFileSync(file, "unknown_key = 1\n");
  assert.throws(() => loadConfig({ file, env: {} }), ConfigError);
});

test("targetOf strips the scheme", () => {
  assert.equal(targetOf("https://localhost:17777"), "localhost:17777");
});

test("tee: the simulated provider by default; hardware providers with collateral and an evidence policy", () => {
  const d = loadConfig({ env: {} });
  assert.equal(d.tee.provider, "sim");
  assert.deepEqual(d.tee.collateral, []);
  assert.equal(d.tee.online_collateral, false);
  const dir = mkdtempSync(join(tmpdir(), "cfg-"));
  const file = join(dir, "c.toml");
  writeFileSync(
    file,
    '[tee]\nprovider = "tsm"\ncollateral = ["/etc/cloister/collateral"]\nevidence_policy = "/etc/cloister/policy.toml"\npcs_url = "https://pccs.internal:8081/"\n',
  );
  const c = loadConfig({ file, env: {} });
  assert.equal(c.tee.provider, "tsm");
  assert.equal(c.tee.tsm_root, "/sys/kernel/config/tsm/report");
  assert.equal(c.tee.evidence_policy, "/etc/cloister/policy.toml");
  writeFileSync(file, '[tee]\nprovider = "sgx"\n');
  assert.throws(() => loadConfig({ file, env: {} }), ConfigError);
  writeFileSync(file, '[tee]\nprovider = "gramine"\npcs_url = "http://plain"\n');
  assert.throws(() => loadConfig({ file, env: {} }), ConfigError);
});
