// The start-up check every pool runs first: one throw-away sandbox with the real flags proves
// bubblewrap works on this host, so no job ever runs unsandboxed.
import { BWRAP_PATH, buildCommand, type Command, checkBinaries, spawnCommand } from "./command.js";
import { SandboxUnavailableError } from "./errors.js";
import { DEFAULT_SANDBOX_LIMITS } from "./types.js";
import { allocateSandboxUid, releaseSandboxUid } from "./uid-range.js";

const probes = new Map<string, Promise<void>>();

/**
 * Starts one throw-away sandbox with the real flags to prove bwrap works here (binary present,
 * user/PID/network namespaces allowed). Cached per configuration.
 */
export function checkSandbox(
  options: { nodePath?: string; bwrapPath?: string; perSandboxUid?: boolean } = {},
): Promise<void> {
  const nodePath = options.nodePath ?? process.execPath;
  const bwrapPath = options.bwrapPath ?? BWRAP_PATH;
  const perUid = options.perSandboxUid ?? process.getuid?.() === 0;
  const key = `${nodePath}|${bwrapPath}|${perUid}`;
  let probe = probes.get(key);
  if (!probe) {
    probe = runProbe(nodePath, bwrapPath, perUid);
    probes.set(key, probe);
    probe.catch(() => probes.delete(key));
  }
  return probe;
}

async function runProbe(nodePath: string, bwrapPath: string, perUid: boolean): Promise<void> {
  checkBinaries(nodePath, bwrapPath);
  const uid = perUid ? allocateSandboxUid() : undefined;
  try {
    const cmd = buildCommand({
      nodePath,
      bwrapPath,
      readOnlyPaths: [],
      limits: DEFAULT_SANDBOX_LIMITS,
      uid,
      nodeArgs: ["-e", "process.exit(require('node:os').hostname() === 'sandbox' ? 0 : 3)"],
      entry: "",
    });
    cmd.args.pop(); // the empty entry
    const { code, stderr } = await runOnce(cmd);
    if (code !== 0) {
      throw new SandboxUnavailableError(
        `bubblewrap cannot start a sandbox here (exit ${code}); user namespaces may be disabled: ${stderr.trim().slice(0, 500)}`,
      );
    }
  } finally {
    if (uid !== undefined) releaseSandboxUid(uid);
  }
}

function runOnce(cmd: Command): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawnCommand(cmd, { stdout: false });
    let stderr = "";
    child.stderr?.on("data", (b: Buffer) => {
      if (stderr.length < 4000) stderr += b.toString("utf8");
    });
    child.on("error", (e) => reject(new SandboxUnavailableError("cannot spawn bubblewrap", { cause: e })));
    child.on("close", (code) => resolve({ code, stderr }));
  });
}
