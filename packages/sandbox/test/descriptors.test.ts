import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));

interface Report {
  host: Record<string, string>;
  stray: { dir: { ino: number; dev: number }; fifo: { ino: number; dev: number } };
  procs: Array<{ pid: number; exe: string; seccomp?: string; fds: Record<string, string> }>;
  inside: { open: Array<{ fd: number; ino: number; dev: number; kind: string }> };
}

describe("descriptors inherited by the host", () => {
  let dir: string;
  let report: Report;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "cloister-stray-"));
    // What the attack did: a shell holds a directory (fd 200) and a pipe (fd 251) open, without
    // close-on-exec, and starts the node process that hosts the sandboxes.
    const { stdout } = await promisify(execFile)(
      "/bin/bash",
      [
        "-c",
        'mkfifo "$2/fifo" && exec 200<"$1" 251<>"$2/fifo" && exec "$3" "$4"',
        "stray",
        "/",
        dir,
        process.execPath,
        join(here, "fixtures", "stray-fds-host.js"),
      ],
      { env: { ...process.env, NODE_NO_WARNINGS: "1" } },
    );
    report = JSON.parse(stdout) as Report;
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it("the host process really holds them (the test's premise)", () => {
    assert.equal(report.host["200"], "/");
    assert.match(report.host["251"] ?? "", /fifo$/);
  });

  it("no process of the sandbox holds anything the host holds", () => {
    const sandboxed = report.procs.filter((p) => !p.exe.endsWith("/bash"));
    assert.ok(
      sandboxed.some((p) => p.exe.endsWith("/bwrap")) && sandboxed.length >= 3,
      `sandbox processes not found: ${JSON.stringify(report.procs)}`,
    );
    // Paths, pipes and sockets name one object each; every eventfd or epoll shares one anonymous
    // inode name, so those say nothing about where a descriptor came from.
    const hostTargets = new Set(
      Object.values(report.host).filter((t) => t !== "/dev/null" && !t.startsWith("anon_inode:")),
    );
    for (const p of sandboxed) {
      for (const [fd, t] of Object.entries(p.fds)) {
        assert.ok(!hostTargets.has(t), `pid ${p.pid} (${p.exe}) holds the host's fd target ${t} as ${fd}`);
      }
    }
  });

  it("the sandboxed worker sees exactly the descriptors it was given, and its runtime's own", () => {
    const { open } = report.inside;
    const same = (a: { ino: number; dev: number }, b: { ino: number; dev: number }) =>
      a.ino === b.ino && a.dev === b.dev;
    for (const s of open) {
      assert.ok(!same(s, report.stray.dir), `the host's directory is open inside as fd ${s.fd}`);
      assert.ok(!same(s, report.stray.fifo), `the host's pipe is open inside as fd ${s.fd}`);
      assert.notEqual(s.kind, "dir", `a directory is open inside as fd ${s.fd}`);
    }
    assert.deepEqual(
      open.slice(0, 4).map((s) => [s.fd, s.kind]),
      [
        [0, "other"],
        [1, "socket"],
        [2, "socket"],
        [3, "socket"],
      ],
    );
    assert.ok(
      open.every((s) => s.fd < 200),
      `descriptors at stray numbers: ${open.map((s) => s.fd).join(",")}`,
    );
  });

  it("every process inside the sandbox runs under the seccomp filter", () => {
    const inner = report.procs.filter((p) => /\/node[^/]*$/.test(p.exe));
    assert.ok(inner.length >= 1, "no sandboxed node found");
    for (const p of inner) assert.equal(p.seccomp, "2", `pid ${p.pid} is not filtered`);
  });
});
