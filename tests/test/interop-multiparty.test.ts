/**
 * Interop: the two-party ordered-set-intersect flow driven entirely from Python gRPC C-core
 * (tests/interop/python_multiparty.py, attestation checked as the Teaclave Python SDK does);
 * this side only decrypts what the platform wrote, with the keys the Python parties chose.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { common } from "@cloister/proto";
import { type Platform, PYTHON_CLIENT, runPython } from "../src/index.js";
import { exchangeOf, fixture, launch, readOutput, removeDir } from "./support.js";

const PYTHON_MULTIPARTY = join(PYTHON_CLIENT, "..", "python_multiparty.py");

let platform: Platform;
let dir: string;

before(async () => {
  platform = await launch();
  dir = exchangeOf(platform);
});
after(async () => {
  await platform?.stop();
  await removeDir(dir);
});

test("interop: two data owners run builtin-ordered-set-intersect from Python C-core; results decrypt with their keys", async () => {
  const { stdout } = await runPython(
    PYTHON_MULTIPARTY,
    platform,
    "--fixtures",
    fixture("ordered_set_intersect"),
    "--work-dir",
    dir,
  );
  const out = JSON.parse(stdout);
  assert.equal(out.auth_attestation, "OK");
  assert.equal(out.frontend_attestation, "OK");
  assert.deepEqual(out.bob_invoke, { code: 7, details: "permission denied" });
  assert.equal(out.error, null);
  assert.equal(out.task_status, common.TaskStatus.Finished);
  assert.equal(out.return_value, "3 common items");
  assert.deepEqual(out.participants, [out.users.alice, out.users.bob].sort());
  assert.deepEqual(out.approved_users, [out.users.alice, out.users.bob].sort());
  assert.deepEqual(out.bob_reads_alice_output, { code: 7, details: "permission denied" });

  const expected = { alice: ["output_result1", "0101010"], bob: ["output_result2", "01101"] } as const;
  for (const who of ["alice", "bob"] as const) {
    const party = out.parties[who];
    const [name, plaintext] = expected[who];
    const got = await readOutput(party.path, {
      schema: "teaclave-file-128",
      key: Buffer.from(party.key, "hex"),
    });
    assert.equal(got.plaintext, plaintext, `${who}'s result`);
    // The tag in the task result, GetOutputFile's cmac and the file's own root MAC all agree.
    assert.equal(out.tags[name], got.cmac.toString("hex"));
    assert.equal(party.cmac, got.cmac.toString("hex"));
    assert.equal(party.file_cmac, got.cmac.toString("hex"));
    assert.deepEqual(party.owner, [out.users[who]]);
  }
});
