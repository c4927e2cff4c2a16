// A bare attested storage endpoint in its own process, for the cross-process round trip of
// grpc.ts: prints {"port": N} once it listens, exits when its parent kills it.
import "reflect-metadata";
import { storage } from "@cloister/proto";
import { createAttestedServer } from "@cloister/rpc";
import { handlers, selfSigned } from "./grpc.js";

const cert = await selfSigned();
const accept = () => ({ name: "bench", mrEnclave: "", mrSigner: "", simulated: true });
const server = createAttestedServer({
  identity: { current: () => cert, on: () => undefined },
  verifyClient: accept,
});
server.addService(storage.TeaclaveStorageService, handlers);
const port = await server.listen("127.0.0.1:0");
process.stdout.write(`${JSON.stringify({ port })}\n`);
