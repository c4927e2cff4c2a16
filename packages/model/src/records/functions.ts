import {
  type FunctionRecord,
  functionFromJsonValue,
  functionText,
  functionToJsonValue,
  readFunctionFields,
  readUsageFields,
  type UsageRecord,
  type UserFunctionsRecord,
  usageFromJsonValue,
  usageText,
  usageToJsonValue,
  userFunctionsFromJsonValue,
  userFunctionsText,
  userFunctionsToJsonValue,
} from "../function.js";
import { uuidV5 } from "../ids.js";
import { uuidSuffix } from "./bare.js";
import { directCodec } from "./codec.js";
import { FunctionId } from "./ids.js";
import { recordType } from "./type.js";

/** `function-<uuid>`: a registered function (its key is also its external id). */
export const functionRecords = recordType<FunctionId, FunctionRecord>({
  name: "function",
  prefix: "function-",
  codec: directCodec("function", {
    toJson: functionToJsonValue,
    fromJson: functionFromJsonValue,
    text: functionText,
    read: readFunctionFields,
  }),
  idOfSuffix: uuidSuffix(FunctionId),
});

/** `usage-<function uuid>`: how often a function was invoked. */
export const usageRecords = recordType<FunctionId, UsageRecord>({
  name: "usage",
  prefix: "usage-",
  codec: directCodec("usage", {
    toJson: usageToJsonValue,
    fromJson: usageFromJsonValue,
    text: usageText,
    read: readUsageFields,
  }),
  idOfSuffix: uuidSuffix(FunctionId),
});

/**
 * `user-<uuid v5 (DNS namespace) of the user id>`: the functions a user registered and may use.
 * The key hides the id, so these records are found by user id only, never listed.
 */
export const userFunctionsRecords = recordType<string, UserFunctionsRecord>({
  name: "user functions",
  prefix: "user-",
  codec: directCodec("user", {
    toJson: userFunctionsToJsonValue,
    fromJson: userFunctionsFromJsonValue,
    text: userFunctionsText,
  }),
  suffix: (userId) => uuidV5(userId),
});
