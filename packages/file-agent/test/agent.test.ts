import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { FileAgent, FileAgentError, urlBasename } from "../src/index.js";

const root = mkdtempSync(join(tmpdir(), "agent-"));
const files = join(root, "files");
const secret = join(root, "data");
const fusion = join(root, "fusion");
mkdirSync(files);
mkdirSync(secret);
mkdirSync(fusion);
writeFileSync(join(files, "in.bin"), "ciphertext");
writeFileSync(join(secret, "sealing.key"), "top secret");
symlinkSync(join(secret, "sealing.key"), join(files, "link.bin"));

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
  new FileAgent({ fusionBaseDir: fusion, fileRoots: [files], forbiddenDirs: [secret], maxBytes: 1024 });
const failsWith = (re: RegExp) => (e: unknown) => e instanceof FileAgentError && re.test(e.message);

describe("file agent", () => {
  test("http GET follows redirects; non-2xx and oversize fail", async () => {
    assert.equal((await agent().download(`${base}/redirect`)).toString(), "from http");
    await assert.rejects(agent().download(`${base}/missing`), failsWith(/HTTP status 404/));
    await assert.rejects(agent().download(`${base}/big`), failsWith(/larger than 1024/));
  });

  test("http PUT: only 200 is success", async () => {
    await agent().upload(`${base}/out.bin`, Buffer.from("result"));
    assert.equal(stored.get("/out.bin")?.toString(), "result");
    await assert.rejects(agent().upload(`${base}/created`, Buffer.from("x")), failsWith(/HTTP status 201/));
  });

  test("file: reads inside its roots only, never through a symlink into a forbidden dir", async () => {
    assert.equal((await agent().download(`file://${files}/in.bin`)).toString(), "ciphertext");
    await assert.rejects(agent().download(`file://${secret}/sealing.key`), failsWith(/path not allowed/));
    await assert.rejects(
      agent().download(`file://${files}/../data/sealing.key`),
      failsWith(/path not allowed/),
    );
    await assert.rejects(agent().download(`file://${files}/link.bin`), failsWith(/download failed/));
    await assert.rejects(agent().download("file:///etc/passwd"), failsWith(/path not allowed/));
    await assert.rejects(agent().download(`file://${files}/none.bin`), failsWith(/ENOENT/));
  });

  test("file: upload refuses to overwrite", async () => {
    await agent().upload(`file://${files}/out/result.bin`, Buffer.from("r"));
    assert.equal(readFileSync(join(files, "out", "result.bin"), "utf8"), "r");
    await assert.rejects(
      agent().upload(`file://${files}/out/result.bin`, Buffer.from("r")),
      failsWith(/EEXIST/),
    );
  });

  test("fusion: maps under the fusion base", async () => {
    await agent().upload("fusion:///TEACLAVE_FUSION_BASE/abc.fusion", Buffer.from("f"));
    assert.equal((await agent().download("fusion:///TEACLAVE_FUSION_BASE/abc.fusion")).toString(), "f");
    await assert.rejects(agent().download("fusion:///ELSEWHERE/abc"), failsWith(/invalid fusion URL/));
    await assert.rejects(
      agent().download("fusion:///TEACLAVE_FUSION_BASE/..%2F..%2Fetc%2Fpasswd"),
      failsWith(/path not allowed/),
    );
  });

  test("data: only text/plain;base64, download only", async () => {
    assert.equal((await agent().download("data:text/plain;base64,aGVsbG8=")).toString(), "hello");
    await assert.rejects(agent().download("data:text/plain,hello"), failsWith(/Scheme not supported/));
    await assert.rejects(agent().download("data:text/plain;base64,a,b"), failsWith(/Scheme not supported/));
    await assert.rejects(
      agent().upload("data:text/plain;base64,aGVsbG8=", Buffer.from("x")),
      failsWith(/Scheme not supported/),
    );
    await assert.rejects(agent().download("gopher://x/y"), failsWith(/Scheme not supported/));
  });

  test("urlBasename", () => {
    assert.equal(urlBasename("http://h/a/b%20c.enc?x=1"), "b%20c.enc");
    assert.throws(() => urlBasename("http://h/"), /Cannot get filename from url/);
  });
});
