// Views of platform objects: `*View` functions give the `--json` shape (wire field names in
// snake_case, bytes as hex), `format*` functions the human text. Pure, so they are unit-tested.
import { CloisterError, ConfigError, Status } from "@cloister/core";
import { common, type frontend } from "@cloister/proto";
import { type AuditEntry, type FileView, PlatformEndpointError } from "@cloister/sdk";
import { CommanderError } from "commander";
import { UsageError } from "./args.js";
import { hintFor } from "./hints.js";

const CODE_NAMES = Object.fromEntries(Object.entries(Status).map(([name, code]) => [code, name])) as Record<
  number,
  string
>;

export const codeName = (code: number): string => CODE_NAMES[code] ?? `code ${code}`;

export interface ErrorView {
  message: string;
  code?: number;
  code_name?: string;
  /** Which failure of the catalog (docs/errors.md) it is. */
  kind?: string;
  /** What the platform's (legacy) text means and what to do; the text itself is unchanged. */
  hint?: string;
}

/** What the user is told when a command fails; never includes secrets (messages do not carry them). */
export function errorView(e: unknown): ErrorView {
  if (e instanceof PlatformEndpointError) {
    const hint =
      e.failure === "attestation"
        ? "check --as-root-ca/--enclave-info (or --data-dir) point at the platform you mean to trust"
        : `is the platform running? check --${e.service === "frontend" ? "frontend" : "authentication"}`;
    return {
      message: `${e.message}; ${hint}`,
      code: e.code,
      code_name: codeName(e.code),
      ...(e.kind ? { kind: e.kind } : {}),
    };
  }
  if (e instanceof CloisterError) {
    const hint = hintFor(e.kind);
    return {
      message: e.message,
      code: e.code,
      code_name: codeName(e.code),
      ...(e.kind ? { kind: e.kind } : {}),
      ...(hint ? { hint } : {}),
    };
  }
  if (e instanceof UsageError || e instanceof ConfigError) return { message: e.message };
  if (e instanceof CommanderError) return { message: e.message.replace(/^error: /, "") };
  const err = e as { code?: unknown; message?: unknown; path?: unknown };
  // Node file-system errors: the message already names the path and the reason.
  if (typeof err?.message === "string") return { message: err.message };
  return { message: String(e) };
}

export function formatError(view: ErrorView): string {
  return `cloister: ${view.message}${view.code_name ? ` (${view.code_name})` : ""}${view.hint ? ` — ${view.hint}` : ""}`;
}

/**
 * Exit status: 0 after help or --version, 2 for a malformed command line (ours or commander's:
 * unknown command or option, missing argument or required option), 1 for a failed operation.
 */
export function exitCodeFor(e: unknown): number {
  if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
  return e instanceof UsageError ? 2 : 1;
}

/** Output formats of list commands (kubectl-style `-o`). */
export type ListFormat = "table" | "wide" | "json";

export function listFormat(value: string | undefined, json: boolean): ListFormat {
  if (json) return "json";
  if (value === undefined || value === "table") return "table";
  if (value === "wide" || value === "json") return value;
  throw new UsageError(`-o: expected table, wide or json, got ${JSON.stringify(value)}`);
}

/** Aligned columns with a header row; an empty list says so under the header. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(headers), ...(rows.length ? rows.map(line) : ["(none)"])].join("\n");
}

const hexOf = (b: Uint8Array | undefined) => Buffer.from(b ?? []).toString("hex");
const ownersView = (l: frontend.OwnerList[]) => Object.fromEntries(l.map((o) => [o.dataName, o.uids]));
const mapView = (l: frontend.DataMap[]) => Object.fromEntries(l.map((d) => [d.dataName, d.dataId]));

export function taskView(t: frontend.GetTaskResponse) {
  const ok = t.result?.Ok;
  const err = t.result?.Err;
  return {
    task_id: t.taskId,
    status: common.taskStatusToJSON(t.status),
    creator: t.creator,
    function_id: t.functionId,
    function_owner: t.functionOwner,
    function_arguments: parseJsonOr(t.functionArguments),
    inputs_ownership: ownersView(t.inputsOwnership),
    outputs_ownership: ownersView(t.outputsOwnership),
    participants: t.participants,
    approved_users: t.approvedUsers,
    assigned_inputs: mapView(t.assignedInputs),
    assigned_outputs: mapView(t.assignedOutputs),
    result: ok
      ? {
          ok: {
            return_value: Buffer.from(ok.returnValue).toString("utf8"),
            tags_map: Object.fromEntries(Object.entries(ok.tagsMap).map(([k, v]) => [k, hexOf(v)])),
            log: ok.log,
            // The function failed; `return_value` is only what legacy clients are shown.
            ...(ok.cloisterFailure ? { failure: ok.cloisterFailure } : {}),
          },
        }
      : err
        ? { err: { reason: err.reason } }
        : null,
  };
}

function parseJsonOr(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function formatTask(t: ReturnType<typeof taskView>): string {
  const files = (own: Record<string, string[]>, assigned: Record<string, string>) =>
    Object.entries(own).map(
      ([name, uids]) => `${name} (owners ${uids.join(", ")}) ← ${assigned[name] ?? "not assigned"}`,
    );
  const lines = [
    `${t.task_id}: ${t.status}${t.result?.ok?.failure ? " (function failed)" : ""}`,
    `  function      ${t.function_id} (owner ${t.function_owner})`,
    `  creator       ${t.creator}`,
    `  arguments     ${JSON.stringify(t.function_arguments)}`,
    ...files(t.inputs_ownership, t.assigned_inputs).map((l) => `  input         ${l}`),
    ...files(t.outputs_ownership, t.assigned_outputs).map((l) => `  output        ${l}`),
    `  participants  ${t.participants.join(", ")}`,
    `  approved by   ${t.approved_users.join(", ") || "nobody yet"}`,
  ];
  if (t.result?.ok) {
    lines.push(`  result        ${t.result.ok.return_value}`);
    for (const [name, tag] of Object.entries(t.result.ok.tags_map))
      lines.push(`  output tag    ${name} ${tag}`);
    for (const l of t.result.ok.log) lines.push(`  log           ${l}`);
    if (t.result.ok.failure) lines.push(`  failure       ${t.result.ok.failure}`);
  } else if (t.result?.err) {
    lines.push(`  failure       ${t.result.err.reason}`);
  } else {
    lines.push("  result        not ready");
  }
  return lines.join("\n");
}

export function functionView(f: frontend.GetFunctionResponse, functionId?: string) {
  return {
    ...(functionId ? { function_id: functionId } : {}),
    name: f.name,
    description: f.description,
    executor_type: f.executorType,
    owner: f.owner,
    public: f.public,
    payload_size: f.payload.length,
    arguments: f.arguments.map((a) => ({
      key: a.key,
      default_value: a.defaultValue,
      allow_overwrite: a.allowOverwrite,
    })),
    inputs: f.inputs.map((i) => ({ name: i.name, description: i.description, optional: i.optional })),
    outputs: f.outputs.map((o) => ({ name: o.name, description: o.description, optional: o.optional })),
    user_allowlist: f.userAllowlist,
  };
}

export function formatFunction(f: ReturnType<typeof functionView>): string {
  const files = (l: Array<{ name: string; description: string; optional: boolean }>) =>
    l
      .map((x) => `${x.name}${x.optional ? " (optional)" : ""}${x.description ? ` — ${x.description}` : ""}`)
      .join(", ") || "none";
  return [
    `${f.function_id ?? f.name}: ${f.name}${f.description ? ` — ${f.description}` : ""}`,
    `  executor   ${f.executor_type}`,
    `  owner      ${f.owner}`,
    `  visibility ${f.public ? "public" : `private (allowed: ${f.user_allowlist.join(", ") || "nobody"})`}`,
    `  payload    ${f.payload_size} bytes`,
    `  arguments  ${
      f.arguments
        .map(
          (a) =>
            `${a.key}${a.allow_overwrite ? "" : " (fixed)"}${a.default_value ? `=${a.default_value}` : ""}`,
        )
        .join(", ") || "none"
    }`,
    `  inputs     ${files(f.inputs)}`,
    `  outputs    ${files(f.outputs)}`,
  ].join("\n");
}

export function fileView(dataId: string, f: FileView) {
  return { data_id: dataId, owner: f.owner, cmac: hexOf(f.cmac) };
}

export function formatFile(v: ReturnType<typeof fileView>): string {
  return [
    `${v.data_id}`,
    `  owners  ${v.owner.join(", ")}`,
    `  cmac    ${v.cmac || "none (not produced yet)"}`,
  ].join("\n");
}

/** 16-byte audit address as text; IPv4 clients appear IPv4-compatible (`::a.b.c.d`). */
export function ipText(ip: Uint8Array): string {
  const b = Buffer.from(ip);
  if (b.length === 4) return [...b].join(".");
  if (b.length !== 16) return b.toString("hex");
  if (
    b.subarray(0, 12).every((x) => x === 0) &&
    !(b[12] === 0 && b[13] === 0 && b[14] === 0 && b[15]! <= 1)
  ) {
    return [...b.subarray(12)].join(".");
  }
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff)
    return [...b.subarray(12)].join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // Compress the longest run of zero groups, as IPv6 text does.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(":");
  return `${groups.slice(0, best).join(":")}::${groups.slice(best + bestLen).join(":")}`;
}

export function auditView(e: AuditEntry) {
  const micro = Number(e.microsecond);
  return {
    date: new Date(Math.floor(micro / 1000)).toISOString(),
    microsecond: micro,
    ip: ipText(e.ip),
    user: e.user,
    message: e.message,
    result: e.result,
  };
}

export function formatAudit(entries: Array<ReturnType<typeof auditView>>): string {
  if (entries.length === 0) return "no matching entries";
  return entries
    .map(
      (e) =>
        `${e.date}  ${e.result ? "ok    " : "FAILED"}  ${e.ip.padEnd(15)}  ${e.user || "-"}  ${e.message}`,
    )
    .join("\n");
}

/** Lists of ids, one per line (human) — empty lists say so. */
export function formatList(title: string, ids: string[]): string {
  return ids.length ? `${title}:\n${ids.map((i) => `  ${i}`).join("\n")}` : `${title}: none`;
}
