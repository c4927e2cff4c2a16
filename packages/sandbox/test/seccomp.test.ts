import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { DENIED_SYSCALLS, SandboxUnavailableError, seccompProgram, syscallNumbers } from "../src/index.js";
import { SingleUsePool } from "./single-use.js";

const workerScript = join(dirname(fileURLToPath(import.meta.url)), "fixtures", "probe-worker.js");

const ALLOW = 0x7fff_0000;
const KILL = 0x8000_0000;
const ERRNO = (e: number) => 0x0005_0000 | e;
const EPERM = 1;
const ENOSYS = 38;
const AUDIT = { x64: 0xc000_003e, arm64: 0xc000_00b7 } as const;

/**
 * Runs a classic-BPF seccomp program on one seccomp_data (only the instructions the generator
 * emits: absolute word loads, jeq/jge/jset with constants, returns).
 */
function evaluate(prog: Buffer, arch: number, nr: number, args: bigint[] = []): number {
  const data = Buffer.alloc(64);
  data.writeInt32LE(nr, 0);
  data.writeUInt32LE(arch, 4);
  for (const [i, a] of args.entries()) data.writeBigUInt64LE(BigInt.asUintN(64, a), 16 + 8 * i);
  let acc = 0;
  for (let pc = 0; pc < prog.length / 8; ) {
    const code = prog.readUInt16LE(pc * 8);
    const jt = prog.readUInt8(pc * 8 + 2);
    const jf = prog.readUInt8(pc * 8 + 3);
    const k = prog.readUInt32LE(pc * 8 + 4);
    pc++;
    switch (code) {
      case 0x20:
        acc = data.readUInt32LE(k);
        break;
      case 0x15:
        pc += acc === k ? jt : jf;
        break;
      case 0x35:
        pc += acc >= k ? jt : jf;
        break;
      case 0x45:
        pc += (acc & k) !== 0 ? jt : jf;
        break;
      case 0x06:
        return k;
      default:
        throw new Error(`unexpected opcode ${code}`);
    }
  }
  throw new Error("program fell off its end");
}

describe("seccomp program", () => {
  for (const arch of ["x64", "arm64"] as const) {
    describe(arch, () => {
      const prog = seccompProgram(arch);
      const n = syscallNumbers(arch)!;
      const run = (name: string, ...args: bigint[]) => evaluate(prog, AUDIT[arch], n[name]!, args);

      it("uses libseccomp's syscall numbers", () => {
        const libArch = arch === "x64" ? "x86_64" : "aarch64";
        const names = Object.keys(n);
        // One resolver call per name; new calls libseccomp 2.5 does not know yet are skipped.
        const unknownToLibseccomp = new Set(["statmount", "listmount", "open_tree_attr"]);
        for (const name of names.filter((x) => !unknownToLibseccomp.has(x))) {
          const out = execFileSync("scmp_sys_resolver", ["-a", libArch, name], { encoding: "utf8" }).trim();
          assert.equal(Number(out), n[name], `${name} on ${libArch}`);
        }
      });

      it("kills a foreign architecture and allows an ordinary call", () => {
        assert.equal(evaluate(prog, 0x4000_0003 /* i386 */, 1), KILL);
        assert.equal(evaluate(prog, AUDIT[arch], 0), ALLOW); // read / io_setup
      });

      it("refuses every listed call with its errno", () => {
        for (const [name, err] of Object.entries(DENIED_SYSCALLS)) {
          if (n[name] === undefined) continue;
          assert.equal(run(name), ERRNO(err), name);
        }
        assert.equal(run("clone3"), ERRNO(ENOSYS));
        assert.equal(run("io_uring_setup"), ERRNO(ENOSYS));
      });

      it("lets clone make threads and processes, never namespaces", () => {
        const THREAD = 0x3d0f00n; // glibc pthread_create's flags
        assert.equal(run("clone", THREAD), ALLOW);
        assert.equal(run("clone", 0x11n /* SIGCHLD: fork */), ALLOW);
        for (const ns of [
          0x20000n,
          0x2000000n,
          0x4000000n,
          0x8000000n,
          0x10000000n,
          0x20000000n,
          0x40000000n,
        ]) {
          assert.equal(run("clone", 0x11n | ns), ERRNO(EPERM), `flag ${ns.toString(16)}`);
        }
      });

      it("checks personality, socket families and terminal ioctls", () => {
        assert.equal(run("personality", 0xffffffffn), ALLOW);
        assert.equal(run("personality", 0n), ALLOW);
        assert.equal(run("personality", 0x0040000n /* ADDR_NO_RANDOMIZE */), ERRNO(EPERM));
        for (const af of [1n, 2n, 10n]) assert.equal(run("socket", af), ALLOW);
        for (const af of [
          16n /* netlink */,
          17n /* packet */,
          38n /* alg */,
          40n /* vsock */,
          0x100000001n,
        ]) {
          assert.equal(run("socket", af), ERRNO(EPERM), `family ${af}`);
        }
        assert.equal(run("ioctl", 1n, 0x5412n /* TIOCSTI */), ERRNO(EPERM));
        assert.equal(run("ioctl", 1n, 0x541bn /* FIONREAD */), ALLOW);
      });
    });
  }

  it("kills the x32 ABI on x86-64", () => {
    assert.equal(evaluate(seccompProgram("x64"), AUDIT.x64, 0x4000_0000 + 1), KILL);
  });

  it("has no filter, and so no sandbox, for an unknown architecture", () => {
    assert.throws(() => seccompProgram("mips"), SandboxUnavailableError);
  });
});

describe("inside a sandbox", () => {
  let pool: SingleUsePool;
  before(async () => {
    // Two small util-linux binaries bound in so the worker can issue the calls the filter refuses.
    pool = new SingleUsePool({
      workerScript,
      size: 1,
      readOnlyPaths: ["/usr/bin/unshare", "/usr/bin/setarch"],
    });
    await pool.start();
  });
  after(() => pool.close());

  it("a refused call fails with EPERM, where without the filter it would succeed", async () => {
    const r = (await pool.run({ data: { op: "syscalls" } })).data as Record<
      string,
      { status: number; stderr: string } | string
    >;
    assert.deepEqual(r.plain, { status: 0, stderr: "" }, "the probe binary runs");
    // unshare(CLONE_NEWUSER) is what bwrap's own --disable-userns would refuse with ENOSPC:
    // EPERM shows the filter refused it first.
    for (const k of ["unshareUser", "personality"]) {
      const v = r[k] as { status: number; stderr: string };
      assert.notEqual(v.status, 0, k);
      assert.match(v.stderr, /Operation not permitted/, k);
    }
    assert.equal(r.netlink, "ERR_SYSTEM_ERROR", "netlink sockets are refused");
  });

  it("has no /proc, so no mount table naming host paths", async () => {
    const r = (await pool.run({ data: { op: "proc" } })).data as Record<string, boolean>;
    assert.deepEqual(r, {
      "/proc": false,
      "/proc/self/mountinfo": false,
      "/proc/self/mounts": false,
      "/proc/1/mountinfo": false,
      "/proc/self/fd": false,
    });
  });
});
