// Bootstrap of a sandboxed worker (reusable.ts): loads the worker module, runs its init once,
// then serves jobs one after another until the host kills it. The worker module must keep
// nothing of one job for the next: it creates a fresh instance (a WebAssembly instance, a QuickJS
// runtime) per job, and the host recycles the process after any failure.
import { run } from "./serve.js";

run();
