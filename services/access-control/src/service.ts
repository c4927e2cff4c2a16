import { readFileSync } from "node:fs";
import { type Enforcer, newEnforcer, newModelFromString, StringAdapter } from "casbin";

const POLICY_DIR = new URL("../../policy/", import.meta.url);

/** The API authorisation gate of the legacy contract, as a casbin model and policy. */
export class AccessControl {
  private constructor(private readonly enforcer: Enforcer) {}

  static async open(
    model = readFileSync(new URL("model.conf", POLICY_DIR), "utf8"),
    policy = readFileSync(new URL("policy.csv", POLICY_DIR), "utf8"),
  ): Promise<AccessControl> {
    return new AccessControl(await newEnforcer(newModelFromString(model), new StringAdapter(policy)));
  }

  /** `role` is the role name before its first dash; `api` the snake_case RPC name. */
  async authorize(role: string, api: string): Promise<boolean> {
    return this.enforcer.enforce(role, api);
  }
}
