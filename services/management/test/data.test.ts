// input and output files.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CloisterError as E, Status as S } from "@cloister/core";
import { parseInputFile, parseOutputFile } from "@cloister/model";
import { RpcError } from "@cloister/rpc";
import * as grpc from "@grpc/grpc-js";
import { ManagementService, validationAsInvalidArgument } from "../src/index.js";
import {
  aes128,
  alice,
  bob,
  carol,
  NO_SUCH,
  registerInput,
  registerOutput,
  rejects,
  setup,
  tf128,
} from "./helpers.js";
import { keys, MemoryStore } from "./memory-store.js";

describe("RegisterInputFile / RegisterOutputFile", () => {
  test("stores a normalised URL, owner = caller", async () => {
    const { svc, store } = setup();
    const id = await registerInput(svc, alice, "HTTP://Example.COM:80/a/../b");
    assert.match(id, /^input-[0-9a-f-]{36}$/);
    const f = parseInputFile(store.text(keys.input(id.slice(6)))!);
    assert.equal(f.url, "http://example.com/b");
    assert.deepEqual([...f.owners], ["alice"]);
    const out = await registerOutput(svc, alice, "https://files.example/x");
    const o = parseOutputFile(store.text(keys.output(out.slice(7)))!);
    assert.equal(o.cmac, null);
    assert.equal(o.url, "https://files.example/x");
  });

  test("file: URLs only inside the caller's exchange directory; fusion: URLs only from the platform", async () => {
    const { svc: off } = setup();
    await rejects(
      registerInput(off, alice, "file:///srv/x/alice/in"),
      3,
      "file URLs are disabled on this platform",
    );
    await rejects(
      registerOutput(off, alice, "file:///srv/x/alice/out"),
      3,
      "file URLs are disabled on this platform",
    );

    const svc = new ManagementService({ store: new MemoryStore(), fileExchangeDir: "/srv/x" });
    await registerInput(svc, alice, "file:///srv/x/alice/in.enc");
    await registerOutput(svc, alice, "file:///srv/x/alice/out/result.enc");
    const outside = "file URL outside the caller's exchange directory";
    for (const url of [
      "file:///srv/x/bob/in.enc",
      "file:///srv/x/alice/../bob/in.enc",
      "file:///srv/x/alice/%2e%2e/bob/in.enc",
      "file:///srv/x/alice",
      "file:///srv/x/in.enc",
      "file:///tmp/alice/in.enc",
      "file:///etc/passwd",
    ]) {
      await rejects(registerInput(svc, alice, url), 7, outside);
      await rejects(registerOutput(svc, alice, url), 7, outside);
    }
    await rejects(registerInput(svc, alice, "file://otherhost/srv/x/alice/in"), 3, "invalid file URL");
    await rejects(registerInput(svc, alice, "file:///srv/x/alice/a%2Fb"), 3, "invalid file URL");
    const id = await registerInput(svc, alice, "file:///srv/x/alice/in.enc");
    await rejects(svc.updateInputFile(alice, { dataId: id, url: "file:///srv/x/bob/in.enc" }), 7, outside);
    const out = await registerOutput(svc, alice, "file:///srv/x/alice/o");
    await rejects(svc.updateOutputFile(alice, { dataId: out, url: "file:///srv/x/bob/o" }), 7, outside);
    const fusion = "fusion:///TEACLAVE_FUSION_BASE/00000000-0000-0000-0000-000000000001.fusion";
    await rejects(registerInput(svc, alice, fusion), 7, "fusion URLs are assigned by the platform");
    await rejects(registerOutput(svc, alice, fusion), 7, "fusion URLs are assigned by the platform");
  });

  test("URL, cmac and crypto errors", async () => {
    const { svc } = setup();
    const reg = (
      url: string,
      cmac = Buffer.alloc(16),
      cryptoInfo: ReturnType<typeof aes128> | null = aes128(),
    ) => svc.registerInputFile(alice, { url, cmac, cryptoInfo: cryptoInfo ?? undefined });
    await rejects(reg("relative/path"), 3, "RelativeUrlWithoutBase");
    await rejects(reg(""), 3, "RelativeUrlWithoutBase");
    await rejects(reg("http://"), 3, "EmptyHost");
    await rejects(reg("http://host:99999/"), 3, "InvalidPort");
    await rejects(reg("http://host:12ab/"), 3, "InvalidPort");
    await rejects(reg("http://[::1/"), 3, "InvalidIpv6Address");
    await rejects(reg("http://1.2.3.999/"), 3, "InvalidIpv4Address");
    await rejects(reg("http://exa mple.com/"), 3, "InvalidDomainCharacter");
    await rejects(reg("http://h/", Buffer.alloc(15)), 3, "Invalid length");
    await rejects(reg("http://h/", Buffer.alloc(16), null), 3, '"missing crypto_info"');
    await rejects(
      reg("http://h/", Buffer.alloc(16), { schema: "rot13", key: Buffer.alloc(0), iv: Buffer.alloc(0) }),
      3,
      "Invalid crypto schema: rot13",
    );
    await rejects(
      svc.registerOutputFile(alice, { url: "http://h/", cryptoInfo: { ...tf128(), iv: Buffer.alloc(12) } }),
      3,
      "IV is not empty for teaclave_file_128",
    );
    await rejects(
      svc.registerOutputFile({ id: "", role: "" }, { url: "http://h/", cryptoInfo: tf128() }),
      2,
      "missing user id",
    );
  });
});

describe("UpdateInputFile / UpdateOutputFile", () => {
  test("creates a new record with the new URL, old one untouched", async () => {
    const { svc, store } = setup();
    const id = await registerInput(svc, alice, "http://a/1");
    const { dataId } = await svc.updateInputFile(alice, { dataId: id, url: "http://a/2" });
    assert.notEqual(dataId, id);
    const n = parseInputFile(store.text(keys.input(dataId.slice(6)))!);
    const o = parseInputFile(store.text(keys.input(id.slice(6)))!);
    assert.equal(n.url, "http://a/2");
    assert.equal(o.url, "http://a/1");
    assert.deepEqual(n.cmac, o.cmac);
    const out = await registerOutput(svc, alice);
    const r = await svc.updateOutputFile(alice, { dataId: out, url: "http://b/" });
    assert.equal(parseOutputFile(store.text(keys.output(r.dataId.slice(7)))!).url, "http://b/");
  });

  test("errors: malformed id 3, wrong kind/unknown 3, not sole owner 7, URL 3", async () => {
    const { svc } = setup();
    const id = await registerInput(svc, alice);
    const out = await registerOutput(svc, alice);
    await rejects(
      svc.updateInputFile(alice, { dataId: "garbage", url: "http://x/" }),
      3,
      "Invalid external id: garbage",
    );
    await rejects(
      svc.updateInputFile(alice, { dataId: "input-xyz", url: "http://x/" }),
      3,
      "invalid character: expected an optional prefix of `urn:uuid:` followed by [0-9a-fA-F-], found `xyz`",
    );
    await rejects(svc.updateInputFile(alice, { dataId: out, url: "http://x/" }), 3, "invalid data id");
    await rejects(
      svc.updateInputFile(alice, { dataId: `input-${NO_SUCH}`, url: "http://x/" }),
      3,
      "invalid data id",
    );
    await rejects(svc.updateInputFile(bob, { dataId: id, url: "http://x/" }), 7, "permission denied");
    await rejects(svc.updateInputFile(alice, { dataId: id, url: "nope" }), 3, "RelativeUrlWithoutBase");
    await rejects(svc.updateOutputFile(alice, { dataId: id, url: "http://x/" }), 3, "invalid data id");
    // Fusion outputs have several owners, so nobody is the sole owner.
    const fusion = await svc.registerFusionOutput(alice, { ownerList: ["alice", "bob"] });
    await rejects(
      svc.updateOutputFile(alice, { dataId: fusion.dataId, url: "http://x/" }),
      7,
      "permission denied",
    );
  });
});

describe("RegisterFusionOutput", () => {
  test("needs > 1 owners including the caller", async () => {
    const { svc, store } = setup();
    await rejects(svc.registerFusionOutput(alice, { ownerList: ["alice"] }), 7, "permission denied");
    await rejects(svc.registerFusionOutput(alice, { ownerList: ["bob", "carol"] }), 7, "permission denied");
    // counted with duplicates
    const dup = await svc.registerFusionOutput(alice, { ownerList: ["alice", "alice"] });
    assert.match(dup.dataId, /^output-/);
    const { dataId } = await svc.registerFusionOutput(alice, { ownerList: ["alice", "bob"] });
    const uuid = dataId.slice(7);
    const f = parseOutputFile(store.text(keys.output(uuid))!);
    assert.equal(f.url, `fusion:///TEACLAVE_FUSION_BASE/${uuid}.fusion`);
    assert.equal(f.crypto.schema, "teaclave-file-128");
    assert.deepEqual([...f.owners].sort(), ["alice", "bob"]);
    assert.deepEqual(await svc.getOutputFile(bob, { dataId }), {
      owner: ["alice", "bob"],
      cmac: Buffer.alloc(0),
    });
  });
});

describe("RegisterInputFromOutput, GetInputFile, GetOutputFile", () => {
  test("conversion needs an owner and a produced cmac; same uuid", async () => {
    const { svc, store } = setup();
    const out = await registerOutput(svc, alice);
    await rejects(svc.registerInputFromOutput(alice, { dataId: `output-${NO_SUCH}` }), 3, "invalid data id");
    await rejects(svc.registerInputFromOutput(alice, { dataId: "output-zz" }), 3, "invalid data id");
    await rejects(svc.registerInputFromOutput(bob, { dataId: out }), 7, "permission denied");
    await rejects(svc.registerInputFromOutput(alice, { dataId: out }), 3, "invalid output file");
    // Simulate the scheduler writing the tag.
    const rec = parseOutputFile(store.text(keys.output(out.slice(7)))!);
    const { serializeOutputFile } = await import("@cloister/model");
    store.map.set(
      keys.output(rec.uuid),
      Buffer.from(serializeOutputFile({ ...rec, cmac: Buffer.alloc(16, 8) })),
    );
    const { dataId } = await svc.registerInputFromOutput(alice, { dataId: out });
    assert.equal(dataId, `input-${out.slice(7)}`);
    assert.deepEqual(await svc.getInputFile(alice, { dataId }), {
      owner: ["alice"],
      cmac: Buffer.alloc(16, 8),
    });
    assert.deepEqual((await svc.getOutputFile(alice, { dataId: out })).cmac, Buffer.alloc(16, 8));
  });

  test("get: owner only; wrong kind / malformed / unknown → invalid data id", async () => {
    const { svc } = setup();
    const id = await registerInput(svc, alice);
    const out = await registerOutput(svc, alice);
    assert.deepEqual(await svc.getInputFile(alice, { dataId: id }), {
      owner: ["alice"],
      cmac: Buffer.alloc(16, 4),
    });
    await rejects(svc.getInputFile(carol, { dataId: id }), 7, "permission denied");
    await rejects(svc.getOutputFile(carol, { dataId: out }), 7, "permission denied");
    await rejects(svc.getInputFile(alice, { dataId: out }), 3, "invalid data id");
    await rejects(svc.getOutputFile(alice, { dataId: id }), 3, "invalid data id");
    await rejects(svc.getInputFile(alice, { dataId: "input" }), 3, "invalid data id");
    await rejects(svc.getInputFile(alice, { dataId: `input-${NO_SUCH}` }), 3, "invalid data id");
  });
});

test("at the RPC boundary validation errors become 3 with their text; peers' and internal failures stay 13", async () => {
  const mapped = validationAsInvalidArgument(new E(S.INTERNAL, "RelativeUrlWithoutBase")) as E;
  assert.deepEqual(
    { code: mapped.code, message: mapped.message },
    { code: 3, message: "RelativeUrlWithoutBase" },
  );
  const internal = new E(S.INTERNAL, "service internal error");
  assert.equal(validationAsInvalidArgument(internal), internal);
  const peer = new RpcError(S.INTERNAL, "invalid response", new grpc.Metadata());
  assert.equal(validationAsInvalidArgument(peer), peer);
  const denied = new E(S.PERMISSION_DENIED, "permission denied");
  assert.equal(validationAsInvalidArgument(denied), denied);
});
