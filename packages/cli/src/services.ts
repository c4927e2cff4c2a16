import type { ServiceName } from "@cloister/config";
import { CONTROL_PLANE, type RunningService, type ServiceContext } from "@cloister/host";
import * as accessControl from "@cloister/service-access-control";
import * as authentication from "@cloister/service-authentication";
import * as execution from "@cloister/service-execution";
import * as frontend from "@cloister/service-frontend";
import * as management from "@cloister/service-management";
import * as scheduler from "@cloister/service-scheduler";
import * as storage from "@cloister/service-storage";

export const SERVICE_STARTERS: Record<ServiceName, (ctx: ServiceContext) => Promise<RunningService>> = {
  storage: storage.start,
  access_control: accessControl.start,
  authentication: authentication.start,
  management: management.start,
  scheduler: scheduler.start,
  frontend: frontend.start,
  execution: execution.start,
};

/** Start order of the services: dependencies first, so the first client call finds its peers. */
export const START_ORDER: ServiceName[] = [...CONTROL_PLANE, "execution"];
