import assert from "node:assert/strict";
import { test } from "node:test";
import {
  authorisationRoleName,
  parseRole,
  roleForAudit,
  roleFromRequest,
  roleToString,
} from "../src/roles.js";

test("roles round-trip through their token strings", () => {
  for (const [role, attr, s] of [
    ["PlatformAdmin", "x", "PlatformAdmin"],
    ["FunctionOwner", "", "FunctionOwner"],
    ["DataOwner", "bank", "DataOwner-bank"],
    ["DataOwnerManager", "", "DataOwnerManager-"],
  ] as const) {
    const r = roleFromRequest(role, attr);
    assert.ok(r);
    assert.equal(roleToString(r), s);
    assert.deepEqual(parseRole(s), r);
  }
  assert.equal(roleFromRequest("", ""), undefined);
  assert.equal(roleFromRequest("platformadmin", ""), undefined);
  assert.equal(parseRole("Root").name, "Invalid");
});

test("authorisation name cuts at the first dash; audit form quotes the attribute", () => {
  assert.equal(authorisationRoleName("DataOwnerManager-bank-a"), "DataOwnerManager");
  assert.equal(authorisationRoleName("PlatformAdmin"), "PlatformAdmin");
  assert.equal(roleForAudit(parseRole("DataOwner-a")), 'DataOwner("a")');
});
