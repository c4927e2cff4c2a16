import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { ConfigError } from "@cloister/core";
import { type LibosDeployment, prepareRuntimeInfo, RUNTIME_INFO_FILE } from "@cloister/libos";
import { generateAuditorKey, signEnclaveInfo } from "@cloister/tee";
import { createNodeLibosExecutor } from "../src/index.js";
import { IMAGE_CACHE, nodeTrust } from "./support.js";

test("a node refuses to start when its runtime is not the one the auditors signed, or the list is not signed", async () => {
  const t = await nodeTrust();
  try {
    const auditor = await generateAuditorKey({ modulusLength: 2048 });
    mkdirSync(join(t.dataDir, "auditors"), { recursive: true });
    writeFileSync(join(t.dataDir, "auditors", "a.public.pem"), auditor.publicKeyPem);
    const d: LibosDeployment = {
      dataDir: t.dataDir,
      backend: "gvisor",
      runtimes: ["static"],
      imageCache: IMAGE_CACHE,
    };
    const trust = { asRootCaPem: t.asRootCa, mrSigner: t.mrSigner };
    const { entries } = await prepareRuntimeInfo(d, trust, {
      name: "a",
      privateKeyPem: auditor.privateKeyPem,
    });
    assert.ok(entries.libos_gvisor_static);
    const options = {
      attestation: t.attestation,
      asRootCaPem: t.asRootCa,
      mrSigner: t.mrSigner,
      credentials: () => t.identity.current(),
      poolSize: 0,
      memoryBytes: 128 << 20,
    };
    const ok = await createNodeLibosExecutor(d, options);
    await ok.close();

    // Signed, but for another measurement (e.g. an agent or image the auditors never saw).
    const path = join(t.dataDir, RUNTIME_INFO_FILE);
    const listed = readFileSync(path, "utf8");
    const other = listed.replace(/mr_enclave = "[0-9a-f]{64}"/, `mr_enclave = "${"ab".repeat(32)}"`);
    writeFileSync(path, other);
    writeFileSync(
      join(t.dataDir, "auditors", "a.runtime_info.sig"),
      signEnclaveInfo(other, auditor.privateKeyPem),
    );
    await assert.rejects(
      createNodeLibosExecutor(d, options),
      (e) => e instanceof ConfigError && /runtime_info\.toml lists/.test(e.message),
    );

    // Changed after signing: the signature no longer verifies.
    writeFileSync(path, listed);
    await assert.rejects(
      createNodeLibosExecutor(d, options),
      (e) => (e as Error).name === "AttestationError",
    );
  } finally {
    t.identity.close();
  }
});
