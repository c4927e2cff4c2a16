#!/usr/bin/env node
// The `cloister` command's entry point. It is a plain file, not build output, so npm links the
// command at install time even in a fresh clone where `dist/` does not exist yet; the CLI
// itself is then loaded from the build.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const main = new URL("../dist/src/main.js", import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write(
    "cloister: the CLI is not built yet: run `npm run build` (or `npm start`) at the root of the Cloister checkout\n",
  );
  process.exit(1);
}
await import(main.href);
