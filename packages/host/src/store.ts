import { join } from "node:path";
import type { CloisterConfig } from "@cloister/config";
import {
  EtcdStore,
  type KvStore,
  LevelDbStore,
  loadOrCreateSealingKey,
  SealedStore,
} from "@cloister/storage";

/**
 * A service's own sealed store: LevelDB under `<data>/<name>/` (embedded default) or a namespace
 * of the configured etcd cluster. Every value is sealed with a key kept in the data directory.
 */
export async function openSealedStore(config: CloisterConfig, name: string): Promise<KvStore> {
  const dir = join(config.data_dir, name);
  const key = await loadOrCreateSealingKey(dir);
  const inner =
    config.storage.backend === "etcd"
      ? await EtcdStore.open({
          endpoints: config.storage.etcd_endpoints,
          namespace: `${config.storage.etcd_namespace}${name}/`,
        })
      : await LevelDbStore.open(join(dir, "db"));
  return new SealedStore(inner, key);
}
