import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  classify,
  EgressPolicy,
  FileAgent,
  type FileAgentErrorCode,
  type FileAgentOptions,
  formatIp,
  isFileAgentError,
  parseIp,
  type Resolver,
} from "../src/index.js";

const failsWith = (code: FileAgentErrorCode) => (e: unknown) => {
  assert.ok(isFileAgentError(e), `expected a FileAgentError, got ${String(e)}`);
  assert.equal(e.code, code, e.message);
  return true;
};

/** The "file server" (127.0.0.1:port, the one allowed address) and a victim on 127.0.0.2, same port. */
let server: Server;
let victim: Server;
let port = 0;
const seen: IncomingMessage[] = [];
const victimHits: string[] = [];

async function listen(s: Server, host: string, p: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    s.once("error", reject);
    s.listen(p, host, () => resolve());
  });
  return (s.address() as AddressInfo).port;
}

before(async () => {
  server = createServer((req, res) => {
    seen.push(req);
    const u = new URL(req.url!, "http://x");
    const to = u.searchParams.get("to");
    if (u.pathname === "/go" && to) return void res.writeHead(302, { location: to }).end();
    if (u.pathname === "/loop") return void res.writeHead(301, { location: "/loop" }).end();
    if (req.method === "PUT" && u.pathname === "/moved")
      return void res.writeHead(307, { location: "/elsewhere" }).end();
    res.writeHead(200).end("from the file server");
  });
  victim = createServer((req, res) => {
    victimHits.push(req.url!);
    res.writeHead(200).end("victim's secret");
  });
  for (let attempt = 0; ; attempt++) {
    port = await listen(server, "127.0.0.1", 0);
    try {
      await listen(victim, "127.0.0.2", port);
      break;
    } catch (e) {
      await new Promise((r) => server.close(r));
      if (attempt > 5) throw e;
    }
  }
});
after(() => {
  server.close();
  victim.close();
});

/** A resolver with fixed answers per name, counting its calls; a list of answers is used in turn. */
function resolverOf(table: Record<string, string | string[][]>): Resolver & { calls: string[] } {
  const calls: string[] = [];
  const turn = new Map<string, number>();
  const fn = async (host: string) => {
    calls.push(host);
    const entry = table[host];
    if (entry === undefined) throw Object.assign(new Error("ENOTFOUND"), { code: "ENOTFOUND" });
    const n = turn.get(host) ?? 0;
    turn.set(host, n + 1);
    const answers = typeof entry === "string" ? [entry] : entry[Math.min(n, entry.length - 1)]!;
    return answers.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  };
  return Object.assign(fn, { calls });
}

const agentWith = (o: Partial<FileAgentOptions> = {}) =>
  new FileAgent({
    fusionBaseDir: join(tmpdir(), "egress-fusion"),
    egress: { allowAddresses: ["127.0.0.1"], ports: [port] },
    ...o,
  });
const local = (path: string, host = "127.0.0.1") => `http://${host}:${port}${path}`;

describe("addresses", () => {
  test("every blocked class, in every spelling", () => {
    const cases: Array<[string, string]> = [
      ["127.0.0.1", "loopback"],
      ["127.255.255.254", "loopback"],
      ["::1", "loopback"],
      ["0:0:0:0:0:0:0:1", "loopback"],
      ["::ffff:127.0.0.1", "loopback"],
      ["::ffff:7f00:1", "loopback"],
      ["[::ffff:7f00:1]", "loopback"],
      ["::127.0.0.1", "loopback"], // IPv4-compatible
      ["::ffff:0:127.0.0.1", "loopback"], // IPv4-translated
      ["64:ff9b::7f00:1", "loopback"], // NAT64
      ["2002:7f00:1::", "loopback"], // 6to4
      ["0.0.0.0", "unspecified"],
      ["::", "unspecified"],
      ["0.1.2.3", "reserved"],
      ["10.1.2.3", "private"],
      ["172.16.0.1", "private"],
      ["172.31.255.255", "private"],
      ["192.168.1.1", "private"],
      ["100.64.0.1", "private"],
      ["fd00::1", "private"],
      ["fc00::1", "private"],
      ["::ffff:10.0.0.1", "private"],
      ["169.254.1.1", "link-local"],
      ["fe80::1", "link-local"],
      ["fe80::1%eth0", "link-local"],
      ["169.254.169.254", "metadata"],
      ["::ffff:169.254.169.254", "metadata"],
      ["fd00:ec2::254", "metadata"],
      ["100.100.100.200", "metadata"],
      ["224.0.0.1", "multicast"],
      ["ff02::1", "multicast"],
      ["255.255.255.255", "reserved"],
      ["192.0.2.1", "reserved"],
      ["2001:db8::1", "reserved"],
      ["2001::1", "reserved"], // Teredo
      ["8.8.8.8", "public"],
      ["172.32.0.1", "public"],
      ["2606:4700::1111", "public"],
      ["::ffff:8.8.8.8", "public"],
    ];
    for (const [text, cls] of cases) assert.equal(classify(parseIp(text)!), cls, text);
    assert.equal(parseIp("localhost"), undefined);
    assert.equal(parseIp("0177.0.0.1"), undefined); // only canonical forms; URLs are canonicalised first
    assert.equal(formatIp(parseIp("::ffff:7f00:1")!), "::ffff:7f00:1");
  });

  test("allow-list entries: exact metadata addresses only; IPv4-mapped entries match IPv4", () => {
    const wide = new EgressPolicy({ allowAddresses: ["169.254.0.0/16", "0.0.0.0/0"] });
    assert.throws(() => wide.checkAddress(parseIp("169.254.169.254")!), failsWith("ADDRESS_NOT_ALLOWED"));
    wide.checkAddress(parseIp("169.254.1.1")!);
    new EgressPolicy({ allowAddresses: ["169.254.169.254"] }).checkAddress(parseIp("169.254.169.254")!);
    const mapped = new EgressPolicy({ allowAddresses: ["::ffff:127.0.0.1"] });
    mapped.checkAddress(parseIp("127.0.0.1")!);
    mapped.checkAddress(parseIp("::ffff:7f00:1")!);
    assert.throws(() => mapped.checkAddress(parseIp("127.0.0.2")!), failsWith("ADDRESS_NOT_ALLOWED"));
    assert.throws(() => new EgressPolicy({ allowAddresses: ["localhost"] }), /allow_addresses/);
    assert.throws(() => new EgressPolicy({ ports: ["9-1"] }), /ports/);
  });
});

describe("egress policy of the file agent", () => {
  test("URL host forms of loopback and other blocked ranges are refused before any connection", async () => {
    const resolver = resolverOf({});
    const agent = new FileAgent({ fusionBaseDir: tmpdir(), resolver });
    for (const host of [
      "2130706433", // decimal
      "0x7f000001", // hex
      "0177.0.0.1", // octal
      "0x7f.1",
      "127.1",
      "[::1]",
      "[::ffff:127.0.0.1]",
      "[::ffff:7f00:1]",
      "[0:0:0:0:0:ffff:7f00:1]",
      "[64:ff9b::127.0.0.1]",
      "[fe80::1]",
      "[fd00::1]",
      "[::]",
      "0.0.0.0",
      "10.0.0.1",
      "192.168.0.1",
      "100.64.0.1",
      "169.254.169.254",
      "224.0.0.1",
    ]) {
      await assert.rejects(agent.download(`http://${host}/x`), failsWith("ADDRESS_NOT_ALLOWED"), host);
      await assert.rejects(
        agent.upload(`https://${host}/x`, Buffer.from("x")),
        failsWith("ADDRESS_NOT_ALLOWED"),
        host,
      );
    }
    assert.deepEqual(resolver.calls, []);
  });

  test("names are checked after resolution: localhost and names that resolve to private space", async () => {
    const resolver = resolverOf({
      "files.internal": "10.0.0.5",
      "v6.internal": "fd00::5",
      "meta.test": "169.254.169.254",
    });
    const agent = agentWith({ resolver, egress: { ports: [port, 80] } });
    await assert.rejects(agent.download(local("/x", "files.internal")), failsWith("ADDRESS_NOT_ALLOWED"));
    await assert.rejects(agent.download(local("/x", "v6.internal")), failsWith("ADDRESS_NOT_ALLOWED"));
    await assert.rejects(
      agent.download("http://meta.test/latest/meta-data/"),
      failsWith("ADDRESS_NOT_ALLOWED"),
    );
    await assert.rejects(agent.download(local("/x", "nowhere.test")), failsWith("HOST_NOT_FOUND"));
    const real = new FileAgent({ fusionBaseDir: tmpdir(), egress: { ports: [port] } });
    await assert.rejects(real.download(local("/x", "localhost")), failsWith("ADDRESS_NOT_ALLOWED"));
    await assert.rejects(real.download(local("/x")), failsWith("ADDRESS_NOT_ALLOWED"));
    assert.deepEqual(victimHits, []);
  });

  test("an allowed address works under a public-looking name, with that name as Host", async () => {
    const resolver = resolverOf({ "files.example": "127.0.0.1" });
    seen.length = 0;
    const body = await agentWith({ resolver }).download(local("/in.enc", "files.example"));
    assert.equal(body.toString(), "from the file server");
    assert.equal(seen[0]?.headers.host, `files.example:${port}`);
    assert.deepEqual(resolver.calls, ["files.example"]);
  });

  test("every redirect is checked: loopback, private, metadata, other schemes and ports, loops", async () => {
    const resolver = resolverOf({ "victim.test": "127.0.0.2" });
    const agent = agentWith({ resolver });
    const via = (to: string) => agent.download(local(`/go?to=${encodeURIComponent(to)}`));
    await assert.rejects(via(`http://127.0.0.2:${port}/secret`), failsWith("ADDRESS_NOT_ALLOWED"));
    await assert.rejects(via(`http://victim.test:${port}/secret`), failsWith("ADDRESS_NOT_ALLOWED"));
    await assert.rejects(via(`http://[::ffff:127.0.0.2]:${port}/secret`), failsWith("ADDRESS_NOT_ALLOWED"));
    await assert.rejects(via(`http://[::1]:${port}/secret`), failsWith("ADDRESS_NOT_ALLOWED"));
    await assert.rejects(via(`http://169.254.169.254:${port}/`), failsWith("ADDRESS_NOT_ALLOWED"));
    await assert.rejects(via("file:///etc/passwd"), failsWith("SCHEME_NOT_ALLOWED"));
    await assert.rejects(via(`http://127.0.0.1:${port + 1}/`), failsWith("PORT_NOT_ALLOWED"));
    await assert.rejects(agent.download(local("/loop")), failsWith("TOO_MANY_REDIRECTS"));
    assert.equal((await via("/plain")).toString(), "from the file server");
    assert.deepEqual(victimHits, []);
  });

  test("DNS rebinding: the address checked is the address connected to, on every connection", async () => {
    // First answer: the allowed file server; every later one: the victim on loopback.
    const rebinding = { "rebind.test": [["127.0.0.1"], ["127.0.0.2"]] };
    const once = resolverOf(rebinding);
    const body = await agentWith({ resolver: once }).download(local("/ok", "rebind.test"));
    assert.equal(body.toString(), "from the file server");
    assert.deepEqual(once.calls, ["rebind.test"], "one resolution per connection, no separate check");

    const twice = resolverOf(rebinding);
    await assert.rejects(
      agentWith({ resolver: twice }).download(
        local(`/go?to=${encodeURIComponent(local("/ok", "rebind.test"))}`, "rebind.test"),
      ),
      failsWith("ADDRESS_NOT_ALLOWED"),
    );
    assert.deepEqual(twice.calls, ["rebind.test", "rebind.test"]);

    // A mixed answer connects only to the allowed address.
    const mixed = resolverOf({ "mixed.test": [["127.0.0.2", "::1", "127.0.0.1"]] });
    assert.equal(
      (await agentWith({ resolver: mixed }).download(local("/ok", "mixed.test"))).toString(),
      "from the file server",
    );
    assert.deepEqual(victimHits, []);
  });

  test("only configured schemes and ports", async () => {
    const agent = new FileAgent({ fusionBaseDir: tmpdir(), egress: { schemes: ["https"] } });
    await assert.rejects(agent.download("http://8.8.8.8/x"), failsWith("SCHEME_NOT_ALLOWED"));
    await assert.rejects(agent.download("https://8.8.8.8:8443/x"), failsWith("PORT_NOT_ALLOWED"));
    await assert.rejects(agent.download("https://8.8.8.8:22/x"), failsWith("PORT_NOT_ALLOWED"));
    await assert.rejects(
      agentWith({ egress: { allowAddresses: ["127.0.0.1"] } }).download(local("/x")),
      failsWith("PORT_NOT_ALLOWED"),
    );
  });

  test("the platform's own ports stay closed on non-public addresses, even where loopback is allowed", async () => {
    const agent = agentWith({ egress: { allowAddresses: ["127.0.0.0/8"], ports: [port], ownPorts: [port] } });
    await assert.rejects(agent.download(local("/ok")), failsWith("ADDRESS_NOT_ALLOWED"));
    const resolver = resolverOf({ "self.test": "127.0.0.1" });
    const named = agentWith({
      resolver,
      egress: { allowAddresses: ["127.0.0.0/8"], ports: [port], ownPorts: [port] },
    });
    await assert.rejects(named.download(local("/ok", "self.test")), failsWith("ADDRESS_NOT_ALLOWED"));
    new EgressPolicy({ ownPorts: [443] }).checkAddress(parseIp("8.8.8.8")!, 443);
  });

  test("an upload follows no redirect", async () => {
    await assert.rejects(agentWith().upload(local("/moved"), Buffer.from("x")), failsWith("HTTP_STATUS"));
  });

  test("cancellation passes through as the caller's abort, not as a file-agent failure", async () => {
    const c = new AbortController();
    c.abort(new Error("cancelled by user"));
    await assert.rejects(agentWith().download(local("/ok"), { signal: c.signal }), /cancelled by user/);
  });
});
