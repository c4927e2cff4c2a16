// A throw-away three-member etcd cluster for failover tests: each member its own process, ports
// and data directory, so one can be killed (SIGKILL) as a crashed machine would be.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Etcd3 } from "etcd3";
import { ETCD_BIN, freePort } from "./etcd-server.js";

export interface EtcdMember {
  name: string;
  endpoint: string;
  process: ChildProcess;
  alive: boolean;
}

export interface EtcdCluster {
  members: EtcdMember[];
  endpoints: string[];
  /** The member that is leader now (asks every live member; retries through an election). */
  leader(timeoutMs?: number): Promise<EtcdMember>;
  /** SIGKILL, as a machine dying would. */
  kill(member: EtcdMember): Promise<void>;
  stop(): Promise<void>;
}

async function memberStatus(endpoint: string): Promise<{ id: string; leader: string } | undefined> {
  const c = new Etcd3({ hosts: [endpoint], dialTimeout: 1000 });
  try {
    const s = await Promise.race([
      c.maintenance.status(),
      sleep(1500).then(() => {
        throw new Error("no answer");
      }),
    ]);
    return { id: s.header.member_id, leader: s.leader };
  } catch {
    return undefined;
  } finally {
    c.close();
  }
}

export async function startEtcdCluster(size = 3): Promise<EtcdCluster> {
  if (!existsSync(ETCD_BIN))
    throw new Error(`etcd is missing at ${ETCD_BIN}: install the Debian package etcd-server`);
  const base = existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
  const dataDir = await mkdtemp(join(base, "cloister-etcd-cluster-"));
  const specs: Array<{ name: string; client: string; peer: string }> = [];
  for (let i = 0; i < size; i++)
    specs.push({
      name: `m${i}`,
      client: `http://127.0.0.1:${await freePort()}`,
      peer: `http://127.0.0.1:${await freePort()}`,
    });
  const initial = specs.map((s) => `${s.name}=${s.peer}`).join(",");
  const members: EtcdMember[] = specs.map((s) => {
    const child = spawn(
      ETCD_BIN,
      [
        `--name=${s.name}`,
        `--data-dir=${join(dataDir, s.name)}`,
        `--listen-client-urls=${s.client}`,
        `--advertise-client-urls=${s.client}`,
        `--listen-peer-urls=${s.peer}`,
        `--initial-advertise-peer-urls=${s.peer}`,
        `--initial-cluster=${initial}`,
        "--initial-cluster-state=new",
        "--initial-cluster-token=cloister-test",
        // Short heartbeats keep elections quick on a loaded test machine without flapping.
        "--heartbeat-interval=100",
        "--election-timeout=1000",
        "--logger=zap",
        "--log-level=error",
      ],
      { stdio: ["ignore", "ignore", "ignore"] },
    );
    const m: EtcdMember = { name: s.name, endpoint: s.client, process: child, alive: true };
    child.once("exit", () => {
      m.alive = false;
    });
    return m;
  });
  const cluster: EtcdCluster = {
    members,
    endpoints: members.map((m) => m.endpoint),
    async leader(timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        for (const m of members.filter((x) => x.alive)) {
          const s = await memberStatus(m.endpoint);
          if (s && s.leader !== "0" && s.id === s.leader) return m;
        }
        if (Date.now() > deadline) throw new Error("the etcd cluster has no leader");
        await sleep(200);
      }
    },
    async kill(member) {
      if (!member.alive) return;
      const exited = new Promise((r) => member.process.once("exit", r));
      member.process.kill("SIGKILL");
      await exited;
    },
    async stop() {
      await Promise.all(members.map((m) => cluster.kill(m)));
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  try {
    await cluster.leader(30_000);
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return cluster;
}
