// `cloister.v1.CloisterTaskLogs` on the frontend API: authentication at admission (before the
// request is read), then access control (`stream_task_log`) and audit through the gate, then the
// stream itself (task-log-stream.ts), each read authorised again by management.
import { extensions } from "@cloister/proto";
import { type AttestedServer, readIdentityMetadata, toServiceError } from "@cloister/rpc";
import type * as grpc from "@grpc/grpc-js";
import { ipBytes } from "./audit.js";
import type { Claims, FrontendGate } from "./gate.js";
import { StreamSlots, streamTaskLog } from "./task-log-stream.js";

const API = "stream_task_log";

type ReadLog = (
  request: extensions.ReadTaskLogRequest,
  caller: { id: string; role: string },
  metadata: grpc.Metadata,
) => Promise<extensions.ReadTaskLogResponse>;

/** Address part of a grpc-js peer string (`ipv4:1.2.3.4:5`, `[::1]:5`). */
function hostOf(peer: string): string {
  const p = peer.replace(/^ipv[46]:/, "");
  if (p.startsWith("[")) return p.slice(1, p.indexOf("]"));
  const i = p.lastIndexOf(":");
  return i > 0 && p.indexOf(":") === i ? p.slice(0, i) : p;
}

export function serveTaskLogs(server: AttestedServer, gate: FrontendGate, read: ReadLog): void {
  const admitted = new WeakMap<grpc.Metadata, Claims>();
  const slots = new StreamSlots();
  server.addService(
    extensions.CloisterTaskLogsService,
    {
      streamTaskLog: (
        call: grpc.ServerWritableStream<extensions.StreamTaskLogRequest, extensions.TaskLogChunk>,
      ) => {
        const md = readIdentityMetadata(call.metadata);
        const { taskId, follow } = call.request;
        gate
          .call(
            API,
            { id: md.id, token: md.token, ip: ipBytes(hostOf(call.getPeer())) },
            async (caller) => {
              const release = follow ? slots.take(caller.id) : () => undefined;
              try {
                await streamTaskLog(
                  (offset) => read({ taskId, offset }, caller, call.metadata),
                  (chunk) => call.write(chunk),
                  () => call.cancelled,
                  { follow },
                );
              } finally {
                release();
              }
            },
            admitted.get(call.metadata),
          )
          .then(
            () => call.end(),
            (e: unknown) => call.emit("error", toServiceError(e)),
          );
      },
    } satisfies extensions.CloisterTaskLogsServer,
    {
      admit: async ({ metadata, peer }) => {
        const md = readIdentityMetadata(metadata);
        admitted.set(
          metadata,
          await gate.authenticate(API, { id: md.id, token: md.token, ip: ipBytes(peer) }),
        );
      },
    },
  );
}
