// What reaches the wire, read with a bare node:http2 client: the legacy clients parse responses
// frame by frame, so error responses must be trailers-only.
import assert from "node:assert/strict";
import * as http2 from "node:http2";
import { after, before, describe, test } from "node:test";
import { storage } from "@cloister/proto";
import { framed, startStorage, TestIdentity, type TestService } from "./helpers.js";

interface RawResponse {
  headers: http2.IncomingHttpHeaders;
  endStreamOnHeaders: boolean;
  dataBytes: number;
  trailers: http2.IncomingHttpHeaders | undefined;
}

let svc: TestService;
let session: http2.ClientHttp2Session;

before(async () => {
  svc = await startStorage({ identity: await TestIdentity.create("teaclave_storage_service") });
  // Test-only client: it does not verify the server at all.
  session = http2.connect(`https://127.0.0.1:${svc.port}`, { rejectUnauthorized: false });
});
after(async () => {
  session.close();
  await svc.server.close();
});

function post(path: string, body: Buffer): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
    });
    const out: RawResponse = { headers: {}, endStreamOnHeaders: false, dataBytes: 0, trailers: undefined };
    stream.on("response", (headers, flags) => {
      out.headers = headers;
      out.endStreamOnHeaders = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    });
    stream.on("data", (chunk: Buffer) => {
      out.dataBytes += chunk.length;
    });
    stream.on("trailers", (trailers) => {
      out.trailers = trailers;
    });
    stream.on("error", reject);
    stream.on("close", () => resolve(out));
    stream.end(body);
  });
}

const GET = "/teaclave_storage_service_proto.TeaclaveStorage/Get";
const getBody = (key: string) => framed(storage.GetRequest.encode({ key: Buffer.from(key) }).finish());

function assertTrailersOnly(res: RawResponse, status: number): void {
  assert.equal(res.endStreamOnHeaders, true, "the first HEADERS frame ends the stream");
  assert.equal(res.dataBytes, 0, "no DATA frame");
  assert.equal(res.trailers, undefined, "no second HEADERS frame");
  assert.equal(res.headers[":status"], 200);
  // grpc-js writes application/grpc+proto, which grpclib and tonic accept.
  assert.match(String(res.headers["content-type"]), /^application\/grpc(\+proto)?$/);
  assert.equal(res.headers["grpc-status"], String(status));
}

describe("response framing on the wire", () => {
  test("success: HEADERS, one DATA message, trailers with grpc-status 0", async () => {
    const res = await post(GET, getBody("abc"));
    assert.equal(res.endStreamOnHeaders, false);
    assert.equal(res.headers[":status"], 200);
    const expected = storage.GetResponse.encode({ value: Buffer.from("abc") }).finish();
    assert.equal(res.dataBytes, 5 + expected.length);
    assert.equal(res.trailers?.["grpc-status"], "0");
  });

  test("a CloisterError is a trailers-only response with a percent-encoded grpc-message", async () => {
    const res = await post(GET, getBody("missing"));
    assertTrailersOnly(res, 3);
    const raw = String(res.headers["grpc-message"]);
    assert.match(raw, /^[\x20-\x7e]+$/, "header value is plain ASCII");
    assert.equal(decodeURIComponent(raw), "invalid key ü % ✓");
  });

  test("an unexpected error is INTERNAL 'service internal error' and reveals nothing", async () => {
    const res = await post(GET, getBody("boom"));
    assertTrailersOnly(res, 13);
    assert.equal(decodeURIComponent(String(res.headers["grpc-message"])), "service internal error");
    assert.doesNotMatch(JSON.stringify(res.headers), /hunter2|password/);
  });

  test("an unknown method is UNIMPLEMENTED (12), trailers-only", async () => {
    const before = svc.handlerRuns;
    const res = await post(
      "/teaclave_authentication_service_proto.TeaclaveAuthenticationApi/InvalidRequest",
      framed(new Uint8Array()),
    );
    assertTrailersOnly(res, 12);
    assert.equal(svc.handlerRuns, before);
  });
});
