// One import point for the generated wire types; each proto package stays in its own namespace
// because several packages reuse message names (e.g. the management service re-exports the
// frontend's request types).

export * as extensions from "./gen/cloister_extensions.js";
export { Empty } from "./gen/google/protobuf/empty.js";
export * as health from "./gen/grpc/health/v1/health.js";
export * as accessControl from "./gen/teaclave_access_control_service.js";
export * as authentication from "./gen/teaclave_authentication_service.js";
export * as common from "./gen/teaclave_common.js";
export * as frontend from "./gen/teaclave_frontend_service.js";
export * as management from "./gen/teaclave_management_service.js";
export * as scheduler from "./gen/teaclave_scheduler_service.js";
export * as storage from "./gen/teaclave_storage_service.js";
