export { up } from "./commands/up.js";
export { runService, READY_MARKER } from "./commands/service.js";
export { attest } from "./commands/attest.js";
export { SERVICE_STARTERS, START_ORDER } from "./services.js";
