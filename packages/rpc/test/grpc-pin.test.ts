// The channel leans on grpc-js behaviour that is not covered by semver: the underscore-named
// secure-connector hook of ChannelCredentials, and getAuthContext() handing back the socket's own
// peer-certificate object. If grpc-js is upgraded these checks fail first, with a clear message;
// re-read channel-credentials.js / server-interceptors.js of the new version before moving the pin.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";

const require = createRequire(import.meta.url);
const grpcRoot = require.resolve("@grpc/grpc-js").replace(/build[\\/]src[\\/]index\.js$/, "");
const read = (rel: string) => readFileSync(grpcRoot + rel, "utf8");

test("the installed grpc-js is the version pinned in package.json", () => {
  const pinned = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"))
    .dependencies["@grpc/grpc-js"];
  const installed = JSON.parse(read("package.json")).version;
  assert.equal(
    installed,
    pinned,
    "grpc-js version changed: re-validate the hooks listed in packages/rpc/README.md",
  );
});

test("grpc-js still drives TLS through ChannelCredentials._createSecureConnector", () => {
  assert.match(
    read("build/src/subchannel.js"),
    /credentials\._createSecureConnector\(/,
    "grpc-js no longer calls _createSecureConnector: attested client credentials would be bypassed",
  );
  assert.match(read("build/src/transport.js"), /await secureConnector\.connect\(tcpConnection\)/);
});

test("grpc-js exposes the connection injector and reads auth context from the session socket", () => {
  assert.equal(typeof grpc.Server.prototype.createConnectionInjector, "function");
  const src = read("build/src/server-interceptors.js");
  assert.match(src, /if \(!this\.stream\.session\.socket\.authorized\)/);
  assert.match(src, /const peerCertificate = this\.stream\.session\.socket\.getPeerCertificate\(\);/);
});
