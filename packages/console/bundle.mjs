// Bundles the console UI (Preact + our components) into dist/ui: one script, one stylesheet and
// the page, all served by the console itself (no third-party assets, offline build).
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "dist", "ui");
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(here, "ui", "app.tsx")],
  bundle: true,
  format: "esm",
  minify: true,
  target: "es2022",
  jsx: "automatic",
  jsxImportSource: "preact",
  outfile: join(out, "app.js"),
  logLevel: "warning",
  legalComments: "none",
});
copyFileSync(join(here, "ui", "app.css"), join(out, "app.css"));
copyFileSync(join(here, "ui", "index.html"), join(out, "index.html"));
