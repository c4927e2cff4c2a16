import {
  fileText,
  type InputFileRecord,
  inputFileFromJsonValue,
  inputFileToJsonValue,
  type OutputFileRecord,
  outputFileFromJsonValue,
  outputFileToJsonValue,
  readInputFileFields,
  readOutputFileFields,
} from "../file.js";
import { uuidSuffix } from "./bare.js";
import { directCodec } from "./codec.js";
import { InputId, OutputId } from "./ids.js";
import { recordType } from "./type.js";

/** `input-<uuid>`: a registered input file. */
export const inputRecords = recordType<InputId, InputFileRecord>({
  name: "input",
  prefix: "input-",
  codec: directCodec("input", {
    toJson: inputFileToJsonValue,
    fromJson: inputFileFromJsonValue,
    text: (f, base64) => (base64 ? `{"v":2,${fileText(f, true).slice(1)}` : fileText(f, false)),
    read: readInputFileFields,
  }),
  idOfSuffix: uuidSuffix(InputId),
});

/** `output-<uuid>`: a registered output file (its cmac set once a task wrote it). */
export const outputRecords = recordType<OutputId, OutputFileRecord>({
  name: "output",
  prefix: "output-",
  codec: directCodec("output", {
    toJson: outputFileToJsonValue,
    fromJson: outputFileFromJsonValue,
    text: (f, base64) => (base64 ? `{"v":2,${fileText(f, true).slice(1)}` : fileText(f, false)),
    read: readOutputFileFields,
  }),
  idOfSuffix: uuidSuffix(OutputId),
});
