// Every server test of this package once more, on the server transport the process does not use
// by default (grpc-js when the default is node:http2, and the reverse), so both servers pass the
// same wire, refusal, stream, hygiene, in-process and C-core interop checks. The transport is
// read when each server is created, i.e. while these tests run.
import { defaultServerTransport } from "../src/index.js";

process.env["CLOISTER_RPC_SERVER"] = defaultServerTransport() === "http2" ? "grpc-js" : "http2";

await import("./wire.test.js");
await import("./refusal.test.js");
await import("./streams.test.js");
await import("./hygiene.test.js");
await import("./channel.test.js");
await import("./local.test.js");
await import("./interceptors.test.js");
await import("./python-interop.test.js");
