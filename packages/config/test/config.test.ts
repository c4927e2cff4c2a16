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

test("file: URLs are off and egress is public-only by default; the local profile opens both for one machine", () => {
  const service = loadConfig({ env: {}, overrides: { data_dir: "/srv/c" } });
  assert.equal(service.execution.file_exchange_dir, undefined);
  assert.deepEqual(service.execution.egress.allow_addresses, []);
  assert.deepEqual(service.execution.egress.ports, [80, 443]);
  assert.deepEqual(service.execution.egress.schemes, ["http", "https"]);

  const local = loadConfig({ env: { CLOISTER_PROFILE: "local" }, overrides: { data_dir: "/srv/c" } });
  assert.equal(local.execution.file_exchange_dir, "/srv/c/exchange");
  assert.deepEqual(local.execution.egress.allow_addresses, ["127.0.0.0/8", "::1"]);
  assert.deepEqual(local.execution.egress.ports, [80, 443, "1024-65535"]);
  assert.throws(() => loadConfig({ env: { CLOISTER_PROFILE: "lax" } }), ConfigError);
});

test("what a file says wins over the local profile; unsafe exchange and egress values are refused", () => {
  const dir = mkdtempSync(join(tmpdir(), "cfg-"));
  const file = join(dir, "c.toml");
  const load = (toml: string) => {
    writeFileSync(file, toml);
    return loadConfig({ file, env: {}, profile: "local", overrides: { data_dir: "/srv/c" } });
  };
  const c = load('[execution]\nfile_exchange_dir = "/srv/x"\n[execution.egress]\nallow_addresses = []\n');
  assert.equal(c.execution.file_exchange_dir, "/srv/x");
  assert.deepEqual(c.execution.egress.allow_addresses, []);
  for (const bad of [
    '[execution]\nfile_exchange_dir = "/srv"\n', // contains the data directory
    '[execution]\nfile_exchange_dir = "/srv/c"\n',
    '[execution]\nfile_roots = ["/tmp"]\n',
    '[execution.egress]\nallow_addresses = ["localhost"]\n',
    '[execution.egress]\nallow_addresses = ["10.0.0.0/33"]\n',
    '[execution.egress]\nports = ["443-80"]\n',
    '[execution.egress]\nschemes = ["ftp"]\n',
  ]) {
    assert.throws(() => load(bad), ConfigError, bad);
  }
});

test("the frontend's per-user call rate has safe defaults and can be raised for a busy tenant", () => {
  const d = loadConfig({ env: {} });
  assert.equal(d.frontend.get_task_wait_ms, 1000);
  assert.equal(d.frontend.user_calls_per_second, 500);
  assert.equal(d.frontend.user_call_burst, 2000);
  const dir = mkdtempSync(join(tmpdir(), "cfg-"));
  const file = join(dir, "c.toml");
  writeFileSync(file, "[frontend]\nuser_calls_per_second = 5000\nuser_call_burst = 20000\n");
  const c = loadConfig({ file, env: {} });
  assert.equal(c.frontend.user_calls_per_second, 5000);
  assert.equal(c.frontend.user_call_burst, 20000);
  for (const bad of [
    "user_calls_per_second = 0",
    "user_call_burst = 1.5",
    "calls = 1",
    "get_task_wait_ms = -1",
    "get_task_wait_ms = 30001",
  ]) {
    writeFileSync(file, `[frontend]\n${bad}\n`);
    assert.throws(
      () => loadConfig({ file, env: {} }),
      (e: unknown) => e instanceof ConfigError && /frontend/.test(e.message),
    );
  }
});
