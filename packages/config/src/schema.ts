import { isIP } from "node:net";
import { z } from "zod";

/** `host:port` of an operations endpoint, or "" for none. */
const opsAddress = z
  .string()
  .regex(/^$|^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, "expected host:port or an empty string")
  .default("");

/** `host:port` where a service listens. */
const listenAddress = z
  .string()
  .regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, "expected host:port, e.g. 0.0.0.0:7777");

/** Where a peer is reached; the scheme is mandatory. */
const advertisedUrl = z
  .string()
  .regex(/^https:\/\/[^/\s]+:\d{1,5}\/?$/, "expected https://host:port (the scheme is mandatory)");

const port = z.number().int().min(1).max(65_535);
const portRange = z
  .string()
  .regex(/^\d{1,5}(-\d{1,5})?$/, 'expected a port range "lo-hi"')
  .refine((r) => {
    const [lo, hi = lo] = r.split("-").map(Number);
    return lo! >= 1 && hi! <= 65_535 && lo! <= hi!;
  }, "expected 1 <= lo <= hi <= 65535");

/** An IP address or CIDR range (IPv4 or IPv6). */
const cidr = z.string().refine((s) => {
  const [ip = "", len, ...rest] = s.split("/");
  const family = isIP(ip);
  if (family === 0 || rest.length > 0) return false;
  return len === undefined || (/^\d{1,3}$/.test(len) && Number(len) <= (family === 4 ? 32 : 128));
}, "expected an IP address or CIDR range, e.g. 10.1.2.0/24 or ::1");

export const SERVICE_NAMES = [
  "authentication",
  "frontend",
  "management",
  "storage",
  "access_control",
  "scheduler",
  "execution",
] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export const configSchema = z
  .object({
    /** Everything a deployment persists: keys, state, the files clients need. */
    data_dir: z.string().min(1).default("./.cloister"),
    tee: z
      .object({
        /**
         * `sim` is a software TEE: no hardware guarantee, and every report says so. `gramine`
         * (SGX under Gramine, /dev/attestation) and `tsm` (TDX / SEV-SNP guests, configfs-tsm)
         * produce real evidence, verified in-process before the attestation report is signed.
         */
        provider: z.enum(["sim", "gramine", "tsm"]).default("sim"),
        /** Gramine's attestation pseudo-filesystem. */
        gramine_root: z.string().min(1).default("/dev/attestation"),
        /** configfs-tsm report directory. */
        tsm_root: z.string().min(1).default("/sys/kernel/config/tsm/report"),
        /** Offline collateral: Intel collateral JSON files or PCS directories, AMD VCEK/VLEK certificates. */
        collateral: z.array(z.string().min(1)).default([]),
        /** Also ask Intel PCS (or `pcs_url`, a PCCS) and AMD KDS for what the offline collateral lacks. */
        online_collateral: z.boolean().default(false),
        pcs_url: z
          .string()
          .regex(/^https:\/\/\S+$/, "expected an https URL")
          .optional(),
        /** Appraisal policy of real evidence (TOML, see docs/evidence.md); default UpToDate only, no debug. */
        evidence_policy: z.string().min(1).optional(),
        /** Re-attestation period: a new key, quote, report and certificate. */
        reattest_interval_secs: z.number().int().min(10).max(86_400).default(3600),
      })
      .prefault({}),
    attestation: z
      .object({
        /** PEM of the attestation-service root CA; default `<data_dir>/as_root_ca.pem`. */
        as_root_ca: z.string().optional(),
        /** Quote statuses a verifier accepts. Revoked/invalid statuses are never safe. */
        accepted_statuses: z.array(z.string()).nonempty().default(["OK"]),
      })
      .prefault({}),
    audit: z
      .object({
        /** Default `<data_dir>/enclave_info.toml`. */
        enclave_info: z.string().optional(),
        /** Raw RSA signatures over enclave_info.toml; default: every `<data_dir>/auditors/*.sign.sha256`. */
        auditor_signatures: z.array(z.string()).optional(),
        /** PEM public keys of trusted auditors; default: every `<data_dir>/auditors/*.public.pem`. */
        auditor_public_keys: z.array(z.string()).optional(),
      })
      .prefault({}),
    listen: z
      .object({
        authentication_api: listenAddress.default("0.0.0.0:7776"),
        frontend: listenAddress.default("0.0.0.0:7777"),
        authentication_internal: listenAddress.default("0.0.0.0:17776"),
        management: listenAddress.default("0.0.0.0:17777"),
        storage: listenAddress.default("0.0.0.0:17778"),
        access_control: listenAddress.default("0.0.0.0:17779"),
        scheduler: listenAddress.default("0.0.0.0:17780"),
      })
      .prefault({}),
    advertised: z
      .object({
        authentication: advertisedUrl.default("https://localhost:17776"),
        management: advertisedUrl.default("https://localhost:17777"),
        storage: advertisedUrl.default("https://localhost:17778"),
        access_control: advertisedUrl.default("https://localhost:17779"),
        scheduler: advertisedUrl.default("https://localhost:17780"),
      })
      .prefault({}),
    ops: z
      .object({
        /**
         * Where each service serves its operations endpoint (plain HTTP: /metrics, /livez,
         * /readyz, /version), never on an attested port. "" (the default) serves none. In a
         * one-service-per-pod deployment every key can name the same address.
         */
        listen: z
          .object({
            authentication: opsAddress,
            frontend: opsAddress,
            management: opsAddress,
            storage: opsAddress,
            access_control: opsAddress,
            scheduler: opsAddress,
            execution: opsAddress,
          })
          .prefault({}),
      })
      .prefault({}),
    frontend: z
      .object({
        /**
         * Calls per second one authenticated user may make through the frontend (a token bucket
         * per user id), and how many it may make at once above that rate. Past it a call fails
         * with TOO_MANY_REQUESTS (gRPC 8) and is not audited as made.
         */
        user_calls_per_second: z.number().int().min(1).max(1_000_000).default(500),
        user_call_burst: z.number().int().min(1).max(10_000_000).default(2000),
        /**
         * Longest GetTask holds its answer while the task is Staged or Running, answering as soon
         * as the task ends (then with its result). Teaclave clients poll GetTask (the Python SDK
         * once a second), so a task that ends just after a poll reaches them in that poll. 0
         * answers at once, as the legacy frontend did. Clients may ask for less with the
         * metadata `cloister-get-task-wait-ms` (the Cloister SDK asks for 0 on getTask).
         */
        get_task_wait_ms: z.number().int().min(0).max(30_000).default(1000),
      })
      .strict()
      .prefault({}),
    storage: z
      .object({
        backend: z.enum(["leveldb", "etcd"]).default("leveldb"),
        /** etcd client URLs, used when backend = "etcd". */
        etcd_endpoints: z.array(z.string().url()).default([]),
        etcd_namespace: z.string().default("cloister/"),
      })
      .prefault({}),
    execution: z
      .object({
        /** Tasks one execution node runs at once. */
        concurrency: z.number().int().min(1).max(256).default(2),
        task_timeout_secs: z.number().int().min(1).max(86_400).default(600),
        task_memory_mb: z.number().int().min(16).max(65_536).default(512),
        /** Seconds without a heartbeat after which the scheduler declares a node lost. */
        heartbeat_timeout_secs: z.number().int().min(2).max(3600).default(30),
        /**
         * Times a task is handed to a node before it is given up: a lease that expires (node
         * lost, hand-over failed) re-queues the task until this many were used, then it Fails.
         */
        task_max_attempts: z.number().int().min(1).max(100).default(3),
        /** Where `fusion:` URLs live on execution nodes. */
        fusion_base_dir: z.string().default("/tmp/fusion_data"),
        /**
         * Root of the file exchange: a `file:` input or output URL may name only files below
         * `<file_exchange_dir>/<owner's id, encoded>/` (checked when data is registered and again
         * on the node, which follows no symlink below it). Unset — the default for
         * `cloister service` — disables `file:` URLs; `cloister up` uses `<data_dir>/exchange`.
         * A relative path is relative to the data directory.
         */
        file_exchange_dir: z.string().min(1).optional(),
        /** Replaced by `file_exchange_dir`; only the empty list is still accepted. */
        file_roots: z
          .array(z.string())
          .max(0, "replaced by execution.file_exchange_dir (one sub-directory per user)")
          .optional(),
        /** Where the file agent may connect for http(s) URLs, checked after DNS and on every redirect. */
        egress: z
          .object({
            schemes: z.array(z.enum(["http", "https"])).default(["http", "https"]),
            /** Ports or `"lo-hi"` ranges. `cloister up` adds 1024-65535 for local servers. */
            ports: z.array(z.union([port, portRange])).default([80, 443]),
            /**
             * Exceptions to the blocked address classes (loopback, private, CGNAT, ULA,
             * link-local, multicast, reserved, cloud metadata). A metadata address needs an
             * exact single-address entry. `cloister up` allows loopback (127.0.0.0/8, ::1).
             */
            allow_addresses: z.array(cidr).default([]),
            max_redirects: z.number().int().min(0).max(20).default(5),
          })
          .strict()
          .prefault({}),
        /**
         * Executors this node offers. The sandboxed ones (wamr, javascript, python) need
         * bubblewrap; untrusted code never runs unsandboxed, so where bubblewrap cannot run they
         * are switched off (and the node says so) or, with `require_all_executors`, the node
         * refuses to start.
         */
        executors: z
          .array(z.enum(["builtin", "wamr", "javascript", "python", "libos"]))
          .nonempty()
          .default(["builtin", "wamr", "javascript", "python", "libos"]),
        /** Refuse to start rather than run without a listed executor (e.g. in production). */
        require_all_executors: z.boolean().default(false),
        /** Warm sandboxed workers kept ready (not yet bound to a function) per sandboxed executor. */
        sandbox_pool_size: z.number().int().min(1).max(64).default(1),
        /**
         * Host uids for this node's sandboxes (`{ first, count }`, outside 0x70000000–0x70ffffff).
         * Unset, a node claims a free block of 4096 from that shared range through lock files
         * in /run/cloister/sandbox-uids, so nodes sharing /run never share a uid; set a distinct
         * range per node where they do not (containers with their own /run).
         */
        sandbox_uids: z
          .object({
            first: z.number().int().min(65_536),
            count: z
              .number()
              .int()
              .min(16)
              .max(1 << 24),
          })
          .strict()
          .optional(),
        /** Largest input or output file, in MiB. */
        max_file_mb: z.number().int().min(1).max(65_536).default(1024),
        /** The LibOS executor (`executor_type = "libos"`): unmodified programs in attested instances. */
        libos: z
          .object({
            /** Sandbox of every instance; a node whose backend cannot run refuses to start. */
            backend: z.enum(["gvisor", "bwrap", "gramine-direct", "gramine-sgx"]).default("gvisor"),
            /** Runtime images offered; each must be listed in the auditor-signed runtime_info.toml. */
            runtimes: z
              .array(z.enum(["static", "python3", "java"]))
              .nonempty()
              .default(["static", "python3", "java"]),
            /** Warm, attested, single-use instances kept per runtime. */
            pool_size: z.number().int().min(0).max(64).default(1),
            /** Built runtime images (content-addressed, shared by nodes); default ~/.cache/cloister/libos-images. */
            image_cache: z.string().default(""),
            /** gVisor platform (`ptrace`, `systrap`, `kvm`); default: runsc's own. */
            gvisor_platform: z.string().default(""),
          })
          .prefault({}),
      })
      .prefault({}),
    log_level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    /**
     * How the services share processes. `combined`: storage, access control, authentication,
     * management, the scheduler and the frontend run as one process (one measurement) and call
     * each other in process; execution nodes are their own processes. `split`: one process per
     * service, each its own measurement and crash domain (Teaclave's shape).
     */
    topology: z.enum(["combined", "split"]).default("combined"),
  })
  .strict();

export type CloisterConfig = z.infer<typeof configSchema>;
