export { helmBinary, readZipEntry } from "./helm.js";
export { type KubeObject, validateObject } from "./validate.js";
