// Renders docs/errors.md from the error catalog (packages/core/src/catalog.ts) and the CLI's
// hints. `node scripts/errors-doc.mjs --write` rewrites the page; without --write it exits 1 when
// the page is out of date. Needs the build (`npm run build`).
import { readFileSync, writeFileSync } from "node:fs";

const root = new URL("..", import.meta.url);
export const DOC_PATH = new URL("docs/errors.md", root);

const CODE_NAMES = {
  0: "OK",
  1: "CANCELLED",
  2: "UNKNOWN",
  3: "INVALID_ARGUMENT",
  4: "DEADLINE_EXCEEDED",
  5: "NOT_FOUND",
  6: "ALREADY_EXISTS",
  7: "PERMISSION_DENIED",
  8: "RESOURCE_EXHAUSTED",
  9: "FAILED_PRECONDITION",
  10: "ABORTED",
  11: "OUT_OF_RANGE",
  12: "UNIMPLEMENTED",
  13: "INTERNAL",
  14: "UNAVAILABLE",
  15: "DATA_LOSS",
  16: "UNAUTHENTICATED",
};

const cell = (s) => String(s).replaceAll("|", "\\|").replaceAll("\n", " ");
/** Inline code that may itself contain backticks. */
const code = (s) => (s.includes("`") ? `\`\` ${s} \`\`` : `\`${s}\``);

/** The page for `errors` (the catalog) and `hints` (kind → CLI hint). */
export function render(errors, hints) {
  const lines = [
    "# Errors",
    "",
    "Every failure Cloister reports, each once, with its stable **kind**, the gRPC status code it",
    "carries on the wire and its exact text. `{name}` in a text is filled in when it happens. Texts",
    "marked **legacy** are Teaclave's own: Teaclave clients and tests match on them, so they never",
    "change (typos included). The wire carries only the code and the text; Cloister's SDK and CLI",
    "recognise the kind from the two (`kindOf`) and the CLI prints the hint beside the text",
    "(`cloister: <text> (<CODE>) — <hint>`; `--json` adds `kind`).",
    "",
    "This page is generated from `packages/core/src/catalog.ts` (`npm run docs:errors`); a test",
    "fails when they differ. Where a code or text departs from Teaclave, [decisions.md](decisions.md)",
    "says why; [contract.md](contract.md#error-codes) summarises the codes.",
    "",
    "| Kind | Code | Text | Sent by | When | CLI hint |",
    "|---|---|---|---|---|---|",
  ];
  for (const [kind, spec] of Object.entries(errors)) {
    const text = `${code(spec.text)}${spec.legacy ? " (legacy)" : ""}`;
    lines.push(
      `| \`${kind}\` | ${spec.code} ${CODE_NAMES[spec.code]} | ${cell(text)} | ${cell(spec.source)} | ${cell(spec.when)} | ${cell(hints[kind] ?? "")} |`,
    );
  }
  lines.push(
    "",
    "`NO_POLICY` looks exactly like `PERMISSION_DENIED` on the wire on purpose: a method nobody",
    "declared a policy for is refused, and the server logs which one.",
    "",
  );
  return lines.join("\n");
}

async function main() {
  const { ERRORS } = await import("../packages/core/dist/src/index.js");
  const { HINTS } = await import("../packages/cli/dist/src/hints.js");
  const page = render(ERRORS, HINTS);
  if (process.argv.includes("--write")) {
    writeFileSync(DOC_PATH, page);
    return;
  }
  if (readFileSync(DOC_PATH, "utf8") !== page) {
    console.error("docs/errors.md is out of date: run `npm run docs:errors`");
    process.exit(1);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
