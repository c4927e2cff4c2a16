export { digestOf, type KeyState, waitForChange } from "./change.js";
export { StorageClosedError, StorageError, StorageIntegrityError } from "./errors.js";
export { EtcdStore, type EtcdStoreOptions } from "./etcd.js";
export {
  type ClaimedTask,
  type ClaimWithRecordBackend,
  claimWithTaskRecord,
  handoffQueues,
  type IntakeBackend,
  type StagingBackend,
  TaskIntake,
  TaskStaging,
} from "./handoff.js";
export { type LevelDbOptions, LevelDbStore } from "./leveldb.js";
export { type QueueKeys, queueKeys } from "./queue-layout.js";
export {
  type ChangeWatch,
  type RecordBackend,
  type RecordState,
  RecordStore,
  type RecordStoreOptions,
  RecordTransaction,
} from "./records.js";
export { RemoteKvStore } from "./remote.js";
export { SealedStore } from "./sealed.js";
export { loadOrCreateSealingKey, sealingKeyPath } from "./sealing-key.js";
export {
  type BatchOp,
  hasIndexedQueues,
  hasKeyWatches,
  hasMoveWithOps,
  type IndexedQueues,
  type KeyWatches,
  type KvStore,
  type MoveWithOps,
  type QueueEntry,
} from "./types.js";
