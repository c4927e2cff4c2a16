import type { Empty, frontend, management } from "@cloister/proto";
import { type Caller, denied, requireId, requireRole } from "../context.js";
import type { AuditLog } from "./log.js";

/** Audit: entries shipped by the frontend, queried by platform administrators. */
export class Audit {
  constructor(private readonly log: AuditLog) {}

  async saveLogs(_caller: Caller, req: management.SaveLogsRequest): Promise<Empty> {
    await this.log.save(req.logs ?? []);
    return {};
  }

  async queryAuditLogs(
    caller: Caller,
    req: frontend.QueryAuditLogsRequest,
  ): Promise<frontend.QueryAuditLogsResponse> {
    requireId(caller);
    const role = requireRole(caller);
    if (role.name !== "PlatformAdmin") throw denied();
    return { logs: await this.log.query(req.query ?? "", Number(req.limit ?? 0)) };
  }
}
