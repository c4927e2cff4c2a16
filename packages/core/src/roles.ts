/**
 * User roles. A role travels in tokens as one string: `PlatformAdmin`,
 * `FunctionOwner`, `DataOwnerManager-<attribute>`, `DataOwner-<attribute>`; anything else is
 * `Invalid`.
 */
export type RoleName = "PlatformAdmin" | "FunctionOwner" | "DataOwnerManager" | "DataOwner" | "Invalid";

export interface Role {
  name: RoleName;
  /** Group of a data owner / manager; empty for the other roles. */
  attribute: string;
}

const REGISTRABLE = new Set<RoleName>(["PlatformAdmin", "FunctionOwner", "DataOwnerManager", "DataOwner"]);

/** From the `role` and `attribute` fields of a register/update request; undefined if invalid. */
export function roleFromRequest(role: string, attribute: string): Role | undefined {
  if (!REGISTRABLE.has(role as RoleName)) return undefined;
  const name = role as RoleName;
  const grouped = name === "DataOwner" || name === "DataOwnerManager";
  return { name, attribute: grouped ? attribute : "" };
}

/** The string stored in tokens and sent to management as `role` metadata. */
export function roleToString(role: Role): string {
  switch (role.name) {
    case "DataOwner":
    case "DataOwnerManager":
      return `${role.name}-${role.attribute}`;
    default:
      return role.name;
  }
}

/** Parse a token role string back; prefixes are checked longest first so a manager is not a data owner. */
export function parseRole(s: string): Role {
  if (s === "PlatformAdmin" || s === "FunctionOwner") return { name: s, attribute: "" };
  if (s.startsWith("DataOwnerManager-")) return { name: "DataOwnerManager", attribute: s.slice(17) };
  if (s.startsWith("DataOwner-")) return { name: "DataOwner", attribute: s.slice(10) };
  return { name: "Invalid", attribute: "" };
}

/** The name used for API authorisation: the role string cut at its first `-`. */
export function authorisationRoleName(roleString: string): string {
  const dash = roleString.indexOf("-");
  return dash < 0 ? roleString : roleString.slice(0, dash);
}

/** Audit-log rendering of a role. */
export function roleForAudit(role: Role): string {
  switch (role.name) {
    case "DataOwner":
    case "DataOwnerManager":
      return `${role.name}(${JSON.stringify(role.attribute)})`;
    default:
      return role.name;
  }
}
