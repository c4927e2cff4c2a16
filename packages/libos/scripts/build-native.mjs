// Builds the guest agent: one static Go binary (Debian's golang-go, no cgo), reproducible
// (-trimpath, no build id) so its hash — part of every runtime measurement — depends only on the
// sources and the Go toolchain. Without Go the build goes on and the LibOS executor reports
// at node start that its agent is missing.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";

const pkg = new URL("..", import.meta.url).pathname;
const out = join(pkg, "dist", "guest", "cloister-guest");
const go = ["/usr/bin/go", "/usr/lib/go/bin/go"].find((p) => existsSync(p));
if (!go) {
  console.warn("libos: Go not found (apt-get install golang-go): the guest agent is not built");
  process.exit(0);
}
mkdirSync(join(pkg, "dist", "guest"), { recursive: true });
execFileSync(go, ["build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", out, "."], {
  cwd: join(pkg, "guest"),
  stdio: "inherit",
  env: { ...process.env, CGO_ENABLED: "0", GOFLAGS: "-mod=mod", GO111MODULE: "on", GOTOOLCHAIN: "local" },
});
