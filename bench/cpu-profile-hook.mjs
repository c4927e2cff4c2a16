// Loaded with NODE_OPTIONS="--import <path>/bench/cpu-profile-hook.mjs" into every process that
// `cloister up` starts (NODE_OPTIONS does not allow --cpu-prof). SIGUSR2 starts V8's sampling
// profiler; the next SIGUSR2 stops it and writes `<service>-<pid>.cpuprofile` into
// CLOISTER_PROFILE_DIR (default: the temp directory), so only the window you measure is sampled.
// Open the files in Chrome DevTools or any .cpuprofile viewer. Never part of a product process.
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { tmpdir } from "node:os";
import { join } from "node:path";

const session = new Session();
session.connect();
let running = false;
const service = () => {
  const i = process.argv.indexOf("service");
  return i >= 0 ? (process.argv[i + 1] ?? "node") : "node";
};

process.on("SIGUSR2", () => {
  if (!running) {
    running = true;
    session.post("Profiler.enable", () =>
      session.post("Profiler.setSamplingInterval", { interval: 200 }, () => session.post("Profiler.start")),
    );
    return;
  }
  running = false;
  session.post("Profiler.stop", (err, result) => {
    if (err) return;
    const dir = process.env.CLOISTER_PROFILE_DIR ?? tmpdir();
    writeFileSync(join(dir, `${service()}-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
  });
});
