// A non-Node client (gRPC C-core through Debian's python3-grpcio) against the attested server:
// checks that errors, percent-encoded messages and UNIMPLEMENTED decode the same there. C-core
// cannot run a custom verifier, so it trusts the server certificate directly (test-only).
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { startStorage, TestIdentity } from "./helpers.js";

const python = ["/usr/bin/python3", "python3"].find(
  (bin) => spawnSync(bin, ["-c", "import grpc"], { stdio: "ignore" }).status === 0,
);

const CLIENT = `
import grpc, json, sys
root = open(sys.argv[1], 'rb').read()
ch = grpc.secure_channel('127.0.0.1:' + sys.argv[2], grpc.ssl_channel_credentials(root_certificates=root),
                         options=[('grpc.ssl_target_name_override', 'Teaclave')])
ident = lambda b: b
def call(path, body):
    try:
        return {'ok': list(ch.unary_unary(path, request_serializer=ident, response_deserializer=ident)(body, timeout=10))}
    except grpc.RpcError as e:
        return {'code': e.code().value[0], 'details': e.details()}
get = '/teaclave_storage_service_proto.TeaclaveStorage/Get'
req = lambda k: bytes([0x0a, len(k)]) + k
print(json.dumps([call(get, req(b'hi')), call(get, req(b'missing')), call(get, req(b'boom')), call('/x.Y/Z', b'')]))
`;

test("gRPC C-core (python3-grpcio) decodes results and trailers-only errors", {
  skip: !python && "python3-grpcio not installed",
}, async () => {
  const identity = await TestIdentity.create("teaclave_storage_service");
  const svc = await startStorage({ identity });
  const dir = mkdtempSync(join(tmpdir(), "rpc-py-"));
  try {
    const certFile = join(dir, "server.pem");
    writeFileSync(certFile, identity.current().certificatePem);
    // Asynchronous on purpose: the server lives in this process and must keep running.
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(python as string, ["-c", CLIENT, certFile, String(svc.port)], (err, out) =>
        err ? reject(err) : resolve(out),
      ),
    );
    const [ok, invalid, internal, unimplemented] = JSON.parse(stdout);
    assert.deepEqual(ok, { ok: [0x0a, 2, ...Buffer.from("hi")] });
    assert.deepEqual(invalid, { code: 3, details: "invalid key ü % ✓" });
    assert.deepEqual(internal, { code: 13, details: "service internal error" });
    assert.equal(unimplemented.code, 12);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await svc.server.close();
  }
});
