// The web console in a real browser (Debian's headless Chromium driven by playwright-core): two
// data owners run builtin-ordered-set-intersect entirely through the console, from registration
// to decrypted results, in two browser contexts. Screenshots go to tests/artifacts/console/.
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ConsoleAttestationError, type RunningConsole, startConsole } from "@cloister/console";
import { trustFromDataDir } from "@cloister/sdk";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { FIXTURES, type Platform, startPlatform } from "../src/index.js";

const CHROMIUM = process.env.CLOISTER_CHROMIUM ?? "/usr/bin/chromium";
const SHOTS = join(FIXTURES, "..", "..", "tests", "artifacts", "console");
const psi = (n: number) => join(FIXTURES, "functions", "ordered_set_intersect", `psi${n}.txt`);

let platform: Platform;
let consoleServer: RunningConsole;
let browser: Browser;
const contexts: BrowserContext[] = [];

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium package`);
  mkdirSync(SHOTS, { recursive: true });
  platform = await startPlatform();
  consoleServer = await startConsole({
    authentication: platform.authentication,
    frontend: platform.frontend,
    trust: trustFromDataDir(platform.dataDir),
    trustFiles: {
      asRootCa: join(platform.dataDir, "as_root_ca.pem"),
      enclaveInfo: join(platform.dataDir, "enclave_info.toml"),
      auditorsDir: join(platform.dataDir, "auditors"),
    },
    exchangeDir: join(platform.dataDir, "exchange"),
    port: 0,
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await browser?.close();
  await consoleServer?.close();
  await platform?.stop();
});

async function signIn(user: string, password: string): Promise<Page> {
  const context = await browser.newContext();
  contexts.push(context);
  const page = await context.newPage();
  page.setDefaultTimeout(60_000);
  await page.goto(consoleServer.url);
  await page.getByLabel("User id").fill(user);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByTestId("user").getByText(user).waitFor();
  return page;
}

const shot = (page: Page, name: string) =>
  page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

/** The id at the end of a status message such as "Input registered: input-…". */
async function statusId(page: Page, prefix: string): Promise<string> {
  const text = (await page.getByRole("status").filter({ hasText: prefix }).textContent()) ?? "";
  const id = text.slice(text.indexOf(prefix) + prefix.length).trim();
  assert.match(id, /^[a-z]+-[0-9a-f-]{36}$/, text);
  return id;
}

async function registerData(
  page: Page,
  who: string,
  file: string,
): Promise<{ input: string; output: string }> {
  await page.getByRole("link", { name: "Data" }).click();
  await page.getByLabel("Plaintext file").setInputFiles(file);
  await page.getByRole("button", { name: "Encrypt and register input" }).click();
  const input = await statusId(page, "Input registered:");
  await page.getByLabel("Output label").fill(`psi-result-${who}`);
  await page.getByRole("button", { name: "Register output" }).click();
  const output = await statusId(page, "Output registered:");
  await shot(page, `data-${who}`);
  return { input, output };
}

async function assign(page: Page, slots: Record<string, string>): Promise<void> {
  for (const [name, id] of Object.entries(slots))
    await page.getByLabel(new RegExp(` ${name} \\(data id\\)`)).fill(id);
  await page.getByRole("button", { name: "Assign" }).click();
}

describe("web console", () => {
  test("two data owners run a private set intersection entirely in the browser", async () => {
    const admin = await signIn("admin", "teaclave");
    await admin.getByTestId("simulated").waitFor();
    await shot(admin, "platform");
    await admin.getByRole("link", { name: "Users" }).click();
    for (const user of ["alice", "bob"]) {
      await admin.getByLabel("User id").fill(user);
      await admin.getByLabel("Initial password").fill("pw");
      await admin.getByLabel("Role").selectOption("DataOwner");
      await admin.getByRole("button", { name: "Register user" }).click();
      await admin
        .getByRole("status")
        .filter({ hasText: `Registered ${user}` })
        .waitFor();
    }
    await admin.getByRole("link", { name: "Functions" }).click();
    await admin.getByLabel("Name").fill("builtin-ordered-set-intersect");
    await admin.getByLabel("Description").fill("Native Private Set Intersection");
    await admin.getByLabel("Arguments (comma-separated)").fill("order");
    await admin.getByLabel("Inputs (comma-separated)").fill("input_data1, input_data2");
    await admin.getByLabel("Outputs (comma-separated)").fill("output_result1, output_result2");
    await admin.getByRole("button", { name: "Register function" }).click();
    const functionId = await statusId(admin, "Registered");
    await shot(admin, "functions");

    const alice = await signIn("alice", "pw");
    const bob = await signIn("bob", "pw");
    const a = await registerData(alice, "alice", psi(0));
    const b = await registerData(bob, "bob", psi(1));

    await alice.getByRole("link", { name: "Tasks" }).click();
    await alice.getByLabel("Function id").fill(functionId);
    await alice.getByLabel("Arguments (JSON)").fill('{"order":"ascending"}');
    await alice.getByLabel("Input owners").fill("input_data1=alice; input_data2=bob");
    await alice.getByLabel("Output owners").fill("output_result1=alice; output_result2=bob");
    await alice.getByRole("button", { name: "Create task" }).click();
    const taskId = ((await alice.getByTestId("task-id").textContent()) ?? "").trim();
    assert.match(taskId, /^task-/);
    // The participant view says what is missing and whose step it is.
    await alice.getByTestId("missing").getByText("input_data2").waitFor();
    await assign(alice, { input_data1: a.input, output_result1: a.output });
    await shot(alice, "task-alice-assigned");

    await bob.getByRole("link", { name: "Tasks" }).click();
    await bob.getByLabel("Task id someone shared with you").fill(taskId);
    await bob.getByRole("button", { name: "Open task" }).click();
    await assign(bob, { input_data2: b.input, output_result2: b.output });
    await bob.getByTestId("task-status").getByText("DataAssigned").waitFor();
    await bob.getByRole("button", { name: "Approve" }).click();

    // alice learns of bob's steps by server-sent events, without reloading.
    await alice.getByTestId("task-status").getByText("DataAssigned").waitFor();
    await alice.getByRole("button", { name: "Approve" }).click();
    await alice.getByTestId("task-status").getByText("Approved").waitFor();
    await alice.getByRole("button", { name: "Invoke" }).click();
    for (const page of [alice, bob]) {
      await page.getByTestId("task-status").getByText("Finished").waitFor({ timeout: 90_000 });
      assert.equal(await page.getByTestId("return-value").textContent(), "3 common items");
    }
    await alice.getByRole("button", { name: "Decrypt output_result1" }).click();
    assert.equal((await alice.getByTestId("plaintext-output_result1").textContent())?.trim(), "0101010");
    await bob.getByRole("button", { name: "Decrypt output_result2" }).click();
    assert.equal((await bob.getByTestId("plaintext-output_result2").textContent())?.trim(), "01101");
    // A builtin task has no LibOS evidence, and the page says so.
    await alice.getByRole("button", { name: "Show LibOS evidence" }).click();
    await alice.getByRole("alert").filter({ hasText: "no LibOS evidence" }).waitFor();
    await shot(alice, "task-alice-finished");
    await shot(bob, "task-bob-finished");

    // bob holds no key of alice's output: the console refuses to decrypt it for him.
    const r = await bob.evaluate(
      async (id) => (await fetch(`/api/data/outputs/${id}/plaintext`)).status,
      a.output,
    );
    assert.equal(r, 404);

    await admin.getByRole("link", { name: "Audit" }).click();
    await admin.getByLabel("Query").fill("user:alice");
    // The frontend ships audit entries to management every second, so the invoke of a moment
    // ago may not be stored yet: search again until it is (bounded), as a user would.
    const invoked = admin.getByRole("cell", { name: "invoke_task" }).first();
    for (let attempt = 0; ; attempt++) {
      await admin.getByRole("button", { name: "Search" }).click();
      try {
        await invoked.waitFor({ timeout: 2000 });
        break;
      } catch (e) {
        if (attempt >= 15) throw e;
      }
    }
    // Each entry says when it happened (the wire's microseconds, shown as a UTC time).
    const when = await admin.getByRole("row").nth(1).getByRole("cell").first().textContent();
    assert.match(when ?? "", /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$/);
    await shot(admin, "audit");
  });

  test("cross-site and forged requests are refused; the page carries a strict CSP", async () => {
    const page = await signIn("admin", "teaclave");
    const res = await fetch(consoleServer.url);
    const csp = res.headers.get("content-security-policy") ?? "";
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    // From the console's own page: a POST without the CSRF token is refused.
    const noToken = await page.evaluate(async () => {
      const r = await fetch("/api/users", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      return { status: r.status, body: await r.json() };
    });
    assert.deepEqual(noToken, {
      status: 403,
      body: { error: { code: "csrf", message: "missing or wrong CSRF token (reload the page)" } },
    });
    // From another origin (a page served elsewhere on loopback): the browser's request is refused.
    const evil = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.end("<!doctype html><title>evil</title>");
    });
    await new Promise<void>((r) => evil.listen(0, "127.0.0.1", r));
    try {
      await page.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`);
      const cross = await page.evaluate(async (url) => {
        try {
          const r = await fetch(`${url}api/logout`, {
            method: "POST",
            mode: "no-cors",
            credentials: "include",
            body: "{}",
          });
          return r.type;
        } catch (e) {
          return String(e);
        }
      }, consoleServer.url);
      assert.ok(cross === "opaque" || /TypeError/.test(cross));
      // A forged form post, and a request for another Host name (DNS rebinding), straight from Node:
      const forged = await fetch(`${consoleServer.url}api/logout`, {
        method: "POST",
        headers: { origin: "http://evil.example", "content-type": "application/json", "x-csrf-token": "x" },
        body: "{}",
      });
      assert.equal(forged.status, 403);
      assert.equal((await forged.json()).error.code, "csrf");
      // fetch cannot set Host; a raw request can, as a rebinding attacker's browser would send it.
      const rebound = await new Promise<number>((resolve, reject) => {
        const req = request(
          consoleServer.url,
          { headers: { host: `evil.example:${consoleServer.port}` } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on("error", reject);
        req.end();
      });
      assert.equal(rebound, 403);
    } finally {
      evil.close();
    }
    // The admin session survived the cross-site attempt.
    await page.goto(consoleServer.url);
    await page.getByTestId("user").getByText("admin").waitFor();
  });

  test("the console refuses to start against a platform whose attestation does not verify", async () => {
    const trust = trustFromDataDir(platform.dataDir);
    const enclaveInfo = Object.fromEntries(
      Object.entries(trust.enclaveInfo).map(([k, v]) => [k, { ...v, mrEnclave: "00".repeat(32) }]),
    );
    await assert.rejects(
      startConsole({
        authentication: platform.authentication,
        frontend: platform.frontend,
        trust: { ...trust, enclaveInfo },
        port: 0,
      }),
      (e: unknown) => e instanceof ConsoleAttestationError && e.code === "attestation",
    );
  });
});
