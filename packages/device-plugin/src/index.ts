export * from "./discovery.js";
export * from "./epc.js";
export * as v1beta1 from "./gen/kubelet_deviceplugin_v1beta1.js";
export * from "./node-capacity.js";
export * from "./plugin.js";
