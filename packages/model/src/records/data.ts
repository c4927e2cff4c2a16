import {
  type InputFileRecord,
  inputFileFromJsonValue,
  inputFileToJsonValue,
  type OutputFileRecord,
  outputFileFromJsonValue,
  outputFileToJsonValue,
} from "../file.js";
import { uuidSuffix } from "./bare.js";
import { jsonCodec } from "./codec.js";
import { InputId, OutputId } from "./ids.js";
import { recordType } from "./type.js";

/** `input-<uuid>`: a registered input file. */
export const inputRecords = recordType<InputId, InputFileRecord>({
  name: "input",
  prefix: "input-",
  codec: jsonCodec("input", inputFileToJsonValue, inputFileFromJsonValue),
  idOfSuffix: uuidSuffix(InputId),
});

/** `output-<uuid>`: a registered output file (its cmac set once a task wrote it). */
export const outputRecords = recordType<OutputId, OutputFileRecord>({
  name: "output",
  prefix: "output-",
  codec: jsonCodec("output", outputFileToJsonValue, outputFileFromJsonValue),
  idOfSuffix: uuidSuffix(OutputId),
});
