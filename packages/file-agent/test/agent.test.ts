import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  exchangePath,
  FileAgent,
  type FileAgentErrorCode,
  isFileAgentError,
  urlBasename,
  userDirName,
} from "../src/index.js";

const root = mkdtempSync(join(tmpdir(), "agent-"));
const exchange = join(root, "exchange");
const secret = join(root, "data");
const fusion = join(root, "fusion");
const alice = join(exchange, "alice");
const bob = join(exchange, "bob");
for (const d of [alice, bob, secret, fusion]) mkdirSync(d, { recursive: true });
writeFileSync(join(alice, "in.bin"), "ciphertext");
writeFileSync(join(bob, "private.bin"), "bob's");
writeFileSync(join(secret, "sealing.key"), "top secret");
symlinkSync(join(secret, "sealing.key"), join(alice, "link.bin"));
symlinkSync(bob, join(alice, "to-bob"));
mkdirSync(join(alice, "sub"));
execFileSync("mkfifo", [join(alice, "fifo")]);

let server: Server;
let base = "";
const stored = new Map<string, Buffer>();
before(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      if (req.url === "/redirect") return void res.writeHead(302, { location: "/ok.bin" }).end();
      if (req.url === "/missing") return void res.writeHead(404).end();
      if (req.url === "/created") return void res.writeHead(201).end();
      if (req.method === "PUT") {
        stored.set(req.url!, Buffer.concat(chunks));
        assert.equal(req.headers["content-type"], "application/x-binary");
        return void res.writeHead(200).end();
      }
      res.writeHead(200).end(req.url === "/big" ? Buffer.alloc(2048) : "from http");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => server.close());

const agent = () =>
  new FileAgent({
    fusionBaseDir: fusion,
    exchangeDir: exchange,
    forbiddenDirs: [secret],
    maxBytes: 1024,
    // The local test server is the one exception to the egress policy (see egress.test.ts).
    egress: { allowAddresses: ["127.0.0.1"], ports: ["1024-65535"] },
  });
const failsWith = (code: FileAgentErrorCode) => (e: unknown) => isFileAgentError(e, code);
const asAlice = { owners: ["alice"] };

describe("file agent (spec/executors-and-files.md §8)", () => {
  test("http GET follows redirects; non-2xx and oversize fail", async () => {
    assert.equal((await agent().download(`${base}/redirect`)).toString(), "from http");
    await assert.rejects(agent().download(`${base}/missing`), failsWith("HTTP_STATUS"));
    await assert.rejects(agent().download(`${base}/big`), failsWith("TOO_LARGE"));
  });

  test("http PUT: only 200 is success", async () => {
    await agent().upload(`${base}/out.bin`, Buffer.from("result"));
    assert.equal(stored.get("/out.bin")?.toString(), "result");
    await assert.rejects(agent().upload(`${base}/created`, Buffer.from("x")), failsWith("HTTP_STATUS"));
  });

  test("file: an owner reads its own directory only", async () => {
    assert.equal((await agent().download(`file://${alice}/in.bin`, asAlice)).toString(), "ciphertext");
    await assert.rejects(agent().download(`file://${bob}/private.bin`, asAlice), failsWith("NOT_OWNER"));
    await assert.rejects(agent().download(`file://${alice}/in.bin`), failsWith("NOT_OWNER"));
    await assert.rejects(
      agent().download(`file://${alice}/in.bin`, { owners: ["bob"] }),
      failsWith("NOT_OWNER"),
    );
    await assert.rejects(
      agent().download(`file://${alice}/../bob/private.bin`, asAlice),
      failsWith("NOT_OWNER"),
    );
    await assert.rejects(
      agent().download(`file://${alice}/%2e%2e/bob/private.bin`, asAlice),
      failsWith("NOT_OWNER"),
    );
    await assert.rejects(
      agent().download(`file://${secret}/sealing.key`, asAlice),
      failsWith("PATH_NOT_ALLOWED"),
    );
    await assert.rejects(agent().download("file:///etc/passwd", asAlice), failsWith("PATH_NOT_ALLOWED"));
    await assert.rejects(agent().download(`file://${alice}`, asAlice), failsWith("PATH_NOT_ALLOWED"));
    await assert.rejects(agent().download(`file://${alice}/none.bin`, asAlice), failsWith("NOT_FOUND"));
    await assert.rejects(agent().download(`file://${alice}/a%2Fb`, asAlice), failsWith("INVALID_URL"));
    await assert.rejects(
      agent().download(`file://elsewhere${alice}/in.bin`, asAlice),
      failsWith("INVALID_URL"),
    );
  });

  test("file: no symlink, FIFO or directory is opened, wherever it points", async () => {
    await assert.rejects(
      agent().download(`file://${alice}/link.bin`, asAlice),
      failsWith("NOT_REGULAR_FILE"),
    );
    await assert.rejects(
      agent().download(`file://${alice}/to-bob/private.bin`, asAlice),
      failsWith("PATH_NOT_ALLOWED"),
    );
    await assert.rejects(agent().download(`file://${alice}/fifo`, asAlice), failsWith("NOT_REGULAR_FILE"));
    await assert.rejects(agent().download(`file://${alice}/sub`, asAlice), failsWith("NOT_REGULAR_FILE"));
    await assert.rejects(
      agent().upload(`file://${alice}/to-bob/planted.bin`, Buffer.from("x"), asAlice),
      failsWith("PATH_NOT_ALLOWED"),
    );
    assert.equal(existsSync(join(bob, "planted.bin")), false);
    await assert.rejects(
      agent().upload(`file://${alice}/link.bin`, Buffer.from("x"), asAlice),
      failsWith("ALREADY_EXISTS"),
    );
    assert.equal(readFileSync(join(secret, "sealing.key"), "utf8"), "top secret");
  });

  test("file: uploads create the owner's directories, never overwrite, never elsewhere", async () => {
    await agent().upload(`file://${exchange}/carol/out/result.bin`, Buffer.from("r"), { owners: ["carol"] });
    assert.equal(readFileSync(join(exchange, "carol", "out", "result.bin"), "utf8"), "r");
    await assert.rejects(
      agent().upload(`file://${exchange}/carol/out/result.bin`, Buffer.from("r"), { owners: ["carol"] }),
      failsWith("ALREADY_EXISTS"),
    );
    await assert.rejects(
      agent().upload(`file://${bob}/from-alice.bin`, Buffer.from("x"), asAlice),
      failsWith("NOT_OWNER"),
    );
    await assert.rejects(
      agent().upload(`file://${root}/top.bin`, Buffer.from("x"), asAlice),
      failsWith("PATH_NOT_ALLOWED"),
    );
  });

  test("file: disabled without an exchange; an exchange holding the data directory is refused", async () => {
    const off = new FileAgent({ fusionBaseDir: fusion });
    await assert.rejects(off.download(`file://${alice}/in.bin`, asAlice), failsWith("FILE_URLS_DISABLED"));
    await assert.rejects(
      off.upload(`file://${alice}/x`, Buffer.from("x"), asAlice),
      failsWith("FILE_URLS_DISABLED"),
    );
    const wide = new FileAgent({ fusionBaseDir: fusion, exchangeDir: root, forbiddenDirs: [secret] });
    await assert.rejects(wide.download(`file://${root}/alice/x`, asAlice), failsWith("PATH_NOT_ALLOWED"));
  });

  test("user directory names: readable for plain ids, injective, never special", () => {
    assert.equal(userDirName("alice"), "alice");
    assert.equal(userDirName("john.doe_1-x"), "john.doe_1-x");
    assert.equal(userDirName(".."), "~2e.");
    assert.equal(userDirName("a/b"), "a~2fb");
    assert.equal(userDirName("~2f"), "~7e2f");
    assert.equal(userDirName("é"), "~c3~a9");
    assert.equal(userDirName(""), "~");
    assert.match(userDirName("x".repeat(300)), /^~h[0-9a-f]{64}$/);
    assert.notEqual(userDirName("x".repeat(300)), userDirName("x".repeat(301)));
    const dir = userDirName("../bob");
    assert.ok(!dir.includes("/") && !dir.startsWith("."));
    assert.deepEqual(exchangePath(`file://${exchange}/${dir}/f`, exchange, ["../bob"]), {
      userDir: dir,
      segments: ["f"],
    });
  });

  test("fusion: maps under the fusion base, nowhere else", async () => {
    await agent().upload("fusion:///TEACLAVE_FUSION_BASE/abc.fusion", Buffer.from("f"));
    assert.equal((await agent().download("fusion:///TEACLAVE_FUSION_BASE/abc.fusion")).toString(), "f");
    await assert.rejects(agent().download("fusion:///ELSEWHERE/abc"), failsWith("INVALID_URL"));
    await assert.rejects(
      agent().download("fusion:///TEACLAVE_FUSION_BASE/..%2F..%2Fetc%2Fpasswd"),
      failsWith("PATH_NOT_ALLOWED"),
    );
  });

  test("data: only text/plain;base64, download only; unknown schemes refused", async () => {
    assert.equal((await agent().download("data:text/plain;base64,aGVsbG8=")).toString(), "hello");
    await assert.rejects(agent().download("data:text/plain,hello"), failsWith("SCHEME_NOT_SUPPORTED"));
    await assert.rejects(agent().download("data:text/plain;base64,a,b"), failsWith("SCHEME_NOT_SUPPORTED"));
    await assert.rejects(
      agent().upload("data:text/plain;base64,aGVsbG8=", Buffer.from("x")),
      failsWith("SCHEME_NOT_SUPPORTED"),
    );
    await assert.rejects(agent().download("gopher://x/y"), failsWith("SCHEME_NOT_SUPPORTED"));
    await assert.rejects(agent().download("not a url"), failsWith("INVALID_URL"));
  });

  test("failure reasons never repeat the URL (it may carry credentials)", async () => {
    const url = `${base.replace("127.0.0.1", "127.0.0.2")}/x?X-Amz-Signature=s3cr3t`;
    await assert.rejects(agent().download(url), (e: unknown) => {
      assert.ok(isFileAgentError(e, "ADDRESS_NOT_ALLOWED"));
      assert.ok(!e.message.includes("s3cr3t"));
      return true;
    });
  });

  test("urlBasename", () => {
    assert.equal(urlBasename("http://h/a/b%20c.enc?x=1"), "b%20c.enc");
    assert.throws(() => urlBasename("http://h/"), failsWith("INVALID_URL"));
  });
});
