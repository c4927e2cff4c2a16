import { join } from "node:path";
import type { CloisterConfig } from "@cloister/config";
import { EtcdStore, type KvStore, LevelDbStore, loadOrCreateSealingKey, SealedStore } from "@cloister/storage";

/**
 * The store behind the storage service: LevelDB in the data directory (embedded default) or a
 * distributed etcd cluster, always wrapped so every value is sealed before it is written.
 */
export async function openBackingStore(config: CloisterConfig): Promise<KvStore> {
  const key = await loadOrCreateSealingKey(config.data_dir);
  const inner =
    config.storage.backend === "etcd"
      ? await EtcdStore.open({ endpoints: config.storage.etcd_endpoints, namespace: config.storage.etcd_namespace })
      : await LevelDbStore.open(join(config.data_dir, "storage", "db"));
  return new SealedStore(inner, key);
}
