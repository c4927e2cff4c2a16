// Starts a throw-away single-member etcd for the tests: random free ports, a temporary data
// directory, stopped and removed afterwards.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { EtcdStore } from "../src/index.js";

export const ETCD_BIN = process.env.CLOISTER_ETCD_BIN ?? "/usr/bin/etcd";

export interface EtcdServer {
  endpoint: string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => srv.listen(0, "127.0.0.1", resolve).once("error", reject));
  const { port } = srv.address() as AddressInfo;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

export async function startEtcd(): Promise<EtcdServer> {
  if (!existsSync(ETCD_BIN)) {
    throw new Error(
      `the etcd backend tests need an etcd server binary at ${ETCD_BIN}: install the Debian package ` +
        "etcd-server (apt-get install -y etcd-server) or set CLOISTER_ETCD_BIN",
    );
  }
  // etcd fsyncs every commit; memory-backed storage keeps the suite fast where available.
  const base = existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
  const dataDir = await mkdtemp(join(base, "cloister-etcd-"));
  const [client, peer] = [await freePort(), await freePort()];
  const endpoint = `http://127.0.0.1:${client}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  const child: ChildProcess = spawn(
    ETCD_BIN,
    [
      "--name=test",
      `--data-dir=${join(dataDir, "data")}`,
      `--listen-client-urls=${endpoint}`,
      `--advertise-client-urls=${endpoint}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=test=${peerUrl}`,
      "--logger=zap",
      "--log-level=error",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let log = "";
  child.stderr?.on("data", (d: Buffer) => {
    log = (log + d.toString()).slice(-4000);
  });
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once("exit", () => {
      exited = true;
      resolve();
    }),
  );
  const stop = async () => {
    if (!exited) child.kill("SIGTERM");
    await exit;
    await rm(dataDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`etcd exited during start-up:\n${log}`);
    }
    try {
      const probe = await EtcdStore.open({ endpoints: [endpoint], connectTimeoutMs: 1000 });
      await probe.close();
      return { endpoint, stop };
    } catch (e) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`etcd did not become ready at ${endpoint}:\n${log}`, { cause: e });
      }
      await sleep(100);
    }
  }
}
