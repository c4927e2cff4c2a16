// How long writes stall when the etcd leader dies: four writers put values in a loop against a
// three-member cluster, the leader is SIGKILLed, and the longest time with no successful write
// anywhere is the stall (election plus client failover). A write that was in flight on the dead
// leader can itself take etcd's request timeout (5 s + 2 × election timeout) to come back.
import { EtcdStore } from "@cloister/storage";
import { startEtcdCluster } from "@cloister/storage/test-support/etcd-cluster";

const WRITERS = 4;

export async function benchEtcdFailover(): Promise<Record<string, number>> {
  const cluster = await startEtcdCluster(3);
  const store = await EtcdStore.open({ endpoints: cluster.endpoints });
  const value = Buffer.alloc(512, 7);
  let stop = false;
  let writes = 0;
  let failures = 0;
  let slowest = 0;
  let killedAt = 0;
  const completions: number[] = [];
  const writers = Array.from({ length: WRITERS }, async (_, w) => {
    for (let i = 0; !stop; i++) {
      const start = performance.now();
      try {
        await store.put(Buffer.from(`bench/failover/${w}/${i % 100}`), value);
        const now = performance.now();
        completions.push(now);
        if (killedAt && start >= killedAt) writes++;
        slowest = Math.max(slowest, now - start);
      } catch {
        failures++;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  });
  try {
    await new Promise((r) => setTimeout(r, 2000));
    const before = completions.length;
    const leader = await cluster.leader();
    killedAt = performance.now();
    await cluster.kill(leader);
    await new Promise((r) => setTimeout(r, 8000));
    stop = true;
    await Promise.all(writers);
    const after = completions.filter((t) => t >= killedAt).sort((a, b) => a - b);
    let stall = after.length ? after[0]! - killedAt : Number.NaN;
    for (let i = 1; i < after.length; i++) stall = Math.max(stall, after[i]! - after[i - 1]!);
    return {
      "puts/s before the kill (4 writers)": before / 2,
      "longest time with no successful write (ms)": stall,
      "slowest single write (ms)": slowest,
      "puts/s after the kill": writes / 8,
      "failed writes during failover": failures,
    };
  } finally {
    stop = true;
    await Promise.all(writers).catch(() => undefined);
    await store.close();
    await cluster.stop();
  }
}
