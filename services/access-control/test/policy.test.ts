import assert from "node:assert/strict";
import { test } from "node:test";
import { AccessControl } from "../src/index.js";

const APIS = {
  function_owner: ["register_function", "update_function", "delete_function", "disable_function"],
  shared: ["get_function", "list_functions", "get_function_usage_stats"],
  data: [
    "register_input_file",
    "register_output_file",
    "update_input_file",
    "update_output_file",
    "register_fusion_output",
    "register_input_from_output",
    "get_output_file",
    "get_input_file",
    "create_task",
    "get_task",
    "assign_data",
    "approve_task",
    "invoke_task",
    "cancel_task",
  ],
};

test("the role/API table of the legacy contract, cell by cell", async () => {
  const acs = await AccessControl.open();
  const all = [...APIS.function_owner, ...APIS.shared, ...APIS.data, "query_audit_logs", "no_such_api"];
  for (const api of all) {
    assert.equal(await acs.authorize("PlatformAdmin", api), true, `admin ${api}`);
    const fo = APIS.function_owner.includes(api) || APIS.shared.includes(api);
    const data = APIS.data.includes(api) || APIS.shared.includes(api);
    assert.equal(await acs.authorize("FunctionOwner", api), fo, `FunctionOwner ${api}`);
    assert.equal(await acs.authorize("DataOwnerManager", api), data, `DataOwnerManager ${api}`);
    assert.equal(await acs.authorize("DataOwner", api), data, `DataOwner ${api}`);
    assert.equal(await acs.authorize("Invalid", api), false, `Invalid ${api}`);
    assert.equal(await acs.authorize("", api), false);
  }
  // Exact matching only.
  assert.equal(await acs.authorize("platformadmin", "get_task"), false);
  assert.equal(await acs.authorize("DataOwner", "GetTask"), false);
});
