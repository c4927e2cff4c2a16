export { attest } from "./commands/attest.js";
export { READY_MARKER, runService } from "./commands/service.js";
export { up } from "./commands/up.js";
export { SERVICE_STARTERS, START_ORDER } from "./services.js";
