// The seccomp filter every sandbox runs under, as a classic-BPF program that bubblewrap loads
// (`--seccomp FD`) just before it executes the sandboxed node.
//
// Policy: default allow, with a deny list of the kernel interfaces untrusted code has no use for
// and that are the usual way out of a namespace sandbox or into a kernel bug (namespaces and
// mounts, tracing other processes, BPF, perf, userfaultfd, io_uring, keyrings, module and kexec
// loading, clock and host settings, exotic socket families, ASLR-disabling personalities,
// terminal injection). A strict allow list was rejected: Node, V8, glibc and libuv use a wide
// syscall set that changes between releases (Node 20 and 24 differ), and a missing entry would
// turn into sandboxes dying at start with no useful reason. Every denial is an errno (EPERM, or
// ENOSYS where the runtime should fall back: clone3 -> clone, io_uring -> epoll), so a payload
// that probes sees a failed call rather than a dead process; a foreign architecture or the x32
// ABI is killed outright, since neither the deny list nor its numbers apply to it.
import { SandboxUnavailableError } from "./errors.js";

// BPF opcodes (linux/filter.h, linux/bpf_common.h).
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const JSET_K = 0x45;
const RET_K = 0x06;

// seccomp return actions and the seccomp_data layout (linux/seccomp.h).
const RET_KILL_PROCESS = 0x8000_0000;
const RET_ERRNO = 0x0005_0000;
const RET_ALLOW = 0x7fff_0000;
const OFF_NR = 0;
const OFF_ARCH = 4;
const offArgLow = (i: number) => 16 + 8 * i;
const offArgHigh = (i: number) => 20 + 8 * i;

const EPERM = 1;
const ENOSYS = 38;

interface ArchInfo {
  /** AUDIT_ARCH_* value seccomp reports for native system calls. */
  audit: number;
  /** x86-64 only: system calls of the x32 ABI carry this bit. */
  x32Bit?: number;
  numbers: Readonly<Record<string, number>>;
}

// Numbers from the kernel's syscall tables (arch/x86/entry/syscalls/syscall_64.tbl and the
// generic table arm64 uses); the test suite checks them against libseccomp's resolver.
// Absent from an architecture means the call does not exist there.
const X86_64: Record<string, number> = {
  clone: 56,
  clone3: 435,
  unshare: 272,
  setns: 308,
  mount: 165,
  umount2: 166,
  pivot_root: 155,
  chroot: 161,
  move_mount: 429,
  open_tree: 428,
  fsopen: 430,
  fsconfig: 431,
  fsmount: 432,
  fspick: 433,
  mount_setattr: 442,
  statmount: 457,
  listmount: 458,
  open_tree_attr: 467,
  ptrace: 101,
  process_vm_readv: 310,
  process_vm_writev: 311,
  process_madvise: 440,
  perf_event_open: 298,
  kcmp: 312,
  pidfd_getfd: 438,
  bpf: 321,
  userfaultfd: 323,
  kexec_load: 246,
  kexec_file_load: 320,
  reboot: 169,
  init_module: 175,
  finit_module: 313,
  delete_module: 176,
  create_module: 174,
  get_kernel_syms: 177,
  query_module: 178,
  acct: 163,
  swapon: 167,
  swapoff: 168,
  quotactl: 179,
  quotactl_fd: 443,
  syslog: 103,
  lookup_dcookie: 212,
  nfsservctl: 180,
  uselib: 134,
  _sysctl: 156,
  vhangup: 153,
  iopl: 172,
  ioperm: 173,
  modify_ldt: 154,
  settimeofday: 164,
  clock_settime: 227,
  clock_adjtime: 305,
  adjtimex: 159,
  sethostname: 170,
  setdomainname: 171,
  name_to_handle_at: 303,
  open_by_handle_at: 304,
  fanotify_init: 300,
  add_key: 248,
  request_key: 249,
  keyctl: 250,
  io_uring_setup: 425,
  io_uring_enter: 426,
  io_uring_register: 427,
  migrate_pages: 256,
  move_pages: 279,
  personality: 135,
  ioctl: 16,
  socket: 41,
};

const AARCH64: Record<string, number> = {
  clone: 220,
  clone3: 435,
  unshare: 97,
  setns: 268,
  mount: 40,
  umount2: 39,
  pivot_root: 41,
  chroot: 51,
  move_mount: 429,
  open_tree: 428,
  fsopen: 430,
  fsconfig: 431,
  fsmount: 432,
  fspick: 433,
  mount_setattr: 442,
  statmount: 457,
  listmount: 458,
  open_tree_attr: 467,
  ptrace: 117,
  process_vm_readv: 270,
  process_vm_writev: 271,
  process_madvise: 440,
  perf_event_open: 241,
  kcmp: 272,
  pidfd_getfd: 438,
  bpf: 280,
  userfaultfd: 282,
  kexec_load: 104,
  kexec_file_load: 294,
  reboot: 142,
  init_module: 105,
  finit_module: 273,
  delete_module: 106,
  acct: 89,
  swapon: 224,
  swapoff: 225,
  quotactl: 60,
  quotactl_fd: 443,
  syslog: 116,
  lookup_dcookie: 18,
  nfsservctl: 42,
  vhangup: 58,
  settimeofday: 170,
  clock_settime: 112,
  clock_adjtime: 266,
  adjtimex: 171,
  sethostname: 161,
  setdomainname: 162,
  name_to_handle_at: 264,
  open_by_handle_at: 265,
  fanotify_init: 262,
  add_key: 217,
  request_key: 218,
  keyctl: 219,
  io_uring_setup: 425,
  io_uring_enter: 426,
  io_uring_register: 427,
  migrate_pages: 238,
  move_pages: 239,
  personality: 92,
  ioctl: 29,
  socket: 198,
};

const ARCHES: Readonly<Record<string, ArchInfo>> = {
  x64: { audit: 0xc000_003e, x32Bit: 0x4000_0000, numbers: X86_64 },
  arm64: { audit: 0xc000_00b7, numbers: AARCH64 },
};

/** System calls refused outright, with the errno the caller sees. */
export const DENIED_SYSCALLS: Readonly<Record<string, number>> = {
  // New namespaces (clone's namespace flags are checked below) and joining others.
  unshare: EPERM,
  setns: EPERM,
  // clone3 passes its flags in memory, out of the filter's reach; glibc falls back to clone.
  clone3: ENOSYS,
  // Mounts, including the new mount API; statmount/listmount would reveal host paths.
  mount: EPERM,
  umount2: EPERM,
  pivot_root: EPERM,
  chroot: EPERM,
  move_mount: EPERM,
  open_tree: EPERM,
  open_tree_attr: EPERM,
  fsopen: EPERM,
  fsconfig: EPERM,
  fsmount: EPERM,
  fspick: EPERM,
  mount_setattr: EPERM,
  statmount: EPERM,
  listmount: EPERM,
  // Reaching into other processes.
  ptrace: EPERM,
  process_vm_readv: EPERM,
  process_vm_writev: EPERM,
  process_madvise: EPERM,
  kcmp: EPERM,
  pidfd_getfd: EPERM,
  migrate_pages: EPERM,
  move_pages: EPERM,
  // Large kernel attack surface with no use for a language runtime.
  bpf: EPERM,
  perf_event_open: EPERM,
  userfaultfd: EPERM,
  io_uring_setup: ENOSYS,
  io_uring_enter: ENOSYS,
  io_uring_register: ENOSYS,
  add_key: EPERM,
  request_key: EPERM,
  keyctl: EPERM,
  name_to_handle_at: EPERM,
  open_by_handle_at: EPERM,
  fanotify_init: EPERM,
  lookup_dcookie: EPERM,
  modify_ldt: EPERM,
  iopl: EPERM,
  ioperm: EPERM,
  uselib: EPERM,
  _sysctl: EPERM,
  nfsservctl: EPERM,
  create_module: EPERM,
  get_kernel_syms: EPERM,
  query_module: EPERM,
  // The host itself: modules, kexec, power, swap, quotas, accounting, clocks, names, logs.
  init_module: EPERM,
  finit_module: EPERM,
  delete_module: EPERM,
  kexec_load: EPERM,
  kexec_file_load: EPERM,
  reboot: EPERM,
  swapon: EPERM,
  swapoff: EPERM,
  quotactl: EPERM,
  quotactl_fd: EPERM,
  acct: EPERM,
  settimeofday: EPERM,
  clock_settime: EPERM,
  clock_adjtime: EPERM,
  adjtimex: EPERM,
  sethostname: EPERM,
  setdomainname: EPERM,
  syslog: EPERM,
  vhangup: EPERM,
};

/** clone() flags that create namespaces (linux/sched.h). */
const CLONE_NAMESPACE_FLAGS =
  0x0002_0000 | // CLONE_NEWNS
  0x0200_0000 | // CLONE_NEWCGROUP
  0x0400_0000 | // CLONE_NEWUTS
  0x0800_0000 | // CLONE_NEWIPC
  0x1000_0000 | // CLONE_NEWUSER
  0x2000_0000 | // CLONE_NEWPID
  0x4000_0000; // CLONE_NEWNET

/** personality() values allowed: the default and the query (anything else can disable ASLR). */
const PERSONALITIES = [0x0000_0000, 0xffff_ffff];
/** Socket families allowed: AF_UNIX, AF_INET, AF_INET6 (netlink, packet, alg, vsock... are not). */
const SOCKET_FAMILIES = [1, 2, 10];
/** ioctl requests refused: TIOCSTI (inject terminal input), TIOCLINUX. */
const DENIED_IOCTLS = [0x5412, 0x541c];

type Insn = [code: number, jt: number, jf: number, k: number];

const ld = (offset: number): Insn => [LD_W_ABS, 0, 0, offset];
const ret = (k: number): Insn => [RET_K, 0, 0, k];
const errno = (e: number) => RET_ERRNO | e;

/**
 * A rule for one system call number whose verdict depends on its arguments. `body` runs with
 * the accumulator clobbered and must end in a return, so the next rule's test still sees the
 * number when this one is skipped.
 */
function guarded(nr: number | undefined, body: Insn[]): Insn[] {
  if (nr === undefined) return [];
  if (body.length > 255) throw new RangeError("rule too long for a BPF jump");
  return [[JEQ_K, 0, body.length, nr], ...body];
}

/** Allow if the 32-bit argument `arg` is one of `values`, else fail with `err`. */
function argIn(arg: number, values: number[], err: number): Insn[] {
  // Layout: ld, one test per value, deny, allow: a match jumps over the other tests and the deny.
  const out: Insn[] = [ld(offArgLow(arg))];
  values.forEach((v, i) => {
    out.push([JEQ_K, values.length - i, 0, v]);
  });
  out.push(ret(errno(err)), ret(RET_ALLOW));
  return out;
}

/** Fail with `err` if the 32-bit argument `arg` is one of `values`, else allow. */
function argNotIn(arg: number, values: number[], err: number): Insn[] {
  // Layout: ld, one test per value, allow, deny: a match jumps over the other tests and the allow.
  const out: Insn[] = [ld(offArgLow(arg))];
  values.forEach((v, i) => {
    out.push([JEQ_K, values.length - i, 0, v]);
  });
  out.push(ret(RET_ALLOW), ret(errno(err)));
  return out;
}

const programs = new Map<string, Buffer>();

/**
 * The filter for an architecture (Node's `process.arch` names), as `struct sock_filter[]` bytes
 * in host byte order (both supported architectures are little-endian).
 */
export function seccompProgram(arch: string = process.arch): Buffer {
  let prog = programs.get(arch);
  if (!prog) {
    prog = buildProgram(arch);
    programs.set(arch, prog);
  }
  return prog;
}

function buildProgram(arch: string): Buffer {
  const info = ARCHES[arch];
  if (!info) {
    throw new SandboxUnavailableError(
      `no seccomp filter for the ${arch} architecture: untrusted code does not run without one`,
    );
  }
  const n = info.numbers;
  const prog: Insn[] = [ld(OFF_ARCH), [JEQ_K, 1, 0, info.audit], ret(RET_KILL_PROCESS), ld(OFF_NR)];
  if (info.x32Bit) prog.push([JGE_K, 0, 1, info.x32Bit], ret(RET_KILL_PROCESS));
  for (const [name, err] of Object.entries(DENIED_SYSCALLS)) {
    const nr = n[name];
    if (nr !== undefined) prog.push([JEQ_K, 0, 1, nr], ret(errno(err)));
  }
  prog.push(
    // clone: flags are the first argument on both architectures; only the low 32 bits count.
    ...guarded(n.clone, [
      ld(offArgLow(0)),
      [JSET_K, 0, 1, CLONE_NAMESPACE_FLAGS],
      ret(errno(EPERM)),
      ret(RET_ALLOW),
    ]),
    // personality takes an unsigned int: the kernel ignores the high half.
    ...guarded(n.personality, argIn(0, PERSONALITIES, EPERM)),
    ...guarded(n.socket, socketRule()),
    ...guarded(n.ioctl, argNotIn(1, DENIED_IOCTLS, EPERM)),
    ret(RET_ALLOW),
  );
  if (prog.length > 4096) throw new RangeError("seccomp program too long");
  const out = Buffer.alloc(prog.length * 8);
  prog.forEach(([code, jt, jf, k], i) => {
    out.writeUInt16LE(code, i * 8);
    out.writeUInt8(jt, i * 8 + 2);
    out.writeUInt8(jf, i * 8 + 3);
    out.writeUInt32LE(k >>> 0, i * 8 + 4);
  });
  return out;
}

/** socket(domain, ...): the domain is an int; a set high half is not a valid family either. */
function socketRule(): Insn[] {
  const high: Insn[] = [ld(offArgHigh(0)), [JEQ_K, 1, 0, 0], ret(errno(EPERM))];
  return [...high, ...argIn(0, SOCKET_FAMILIES, EPERM)];
}

/** The system call numbers the filter uses on an architecture (for tests and diagnostics). */
export function syscallNumbers(arch: string): Readonly<Record<string, number>> | undefined {
  return ARCHES[arch]?.numbers;
}
