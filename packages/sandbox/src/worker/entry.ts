// Bootstrap of a sandboxed worker process. Runs inside bubblewrap: loads the worker module, runs its
// init once, then exactly one job (serve.ts).
import { run } from "./serve.js";

run("one");
