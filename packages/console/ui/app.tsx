// The console UI: Preact components over the console's JSON API; live task state arrives by
// server-sent events. Every control has a label, works from the keyboard, and errors are
// announced to screen readers (role="alert").
import { type ComponentChildren, render } from "preact";
import { useCallback, useEffect, useState } from "preact/hooks";
import { ApiError, api, fileToBase64 } from "./api.js";

// biome-ignore lint/suspicious/noExplicitAny: API answers are rendered field by field; the server defines their shapes
type Json = Record<string, any>;
const split = (s: string) =>
  s
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);

function useAction(): [string | null, string | null, (f: () => Promise<unknown>) => Promise<void>] {
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const run = useCallback(async (f: () => Promise<unknown>) => {
    setError(null);
    setDone(null);
    try {
      const msg = await f();
      if (typeof msg === "string" && msg) setDone(msg);
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    }
  }, []);
  return [error, done, run];
}

/** A cell whose content is an identifier or digest (monospace, so hex lines up). */
const mono = (content: ComponentChildren) => ({ mono: true as const, content });
type Cell = ComponentChildren | ReturnType<typeof mono>;
const isMono = (c: Cell): c is ReturnType<typeof mono> =>
  typeof c === "object" && c !== null && (c as { mono?: unknown }).mono === true;

/** Every list of the console: a header row, then one row per item. */
function DataTable<T>(props: {
  caption?: string;
  headers: string[];
  rows: T[];
  rowKey: (row: T, index: number) => string | number;
  cells: (row: T) => Cell[];
}) {
  return (
    <table>
      {props.caption && <caption>{props.caption}</caption>}
      <thead>
        <tr>
          {props.headers.map((h) => (
            <th key={h}>{h}</th>
          ))}
        </tr>
      </thead>
      <tbody>
        {props.rows.map((row, i) => (
          <tr key={props.rowKey(row, i)}>
            {props.cells(row).map((c, j) =>
              isMono(c) ? (
                <td key={j} class="mono">
                  {c.content}
                </td>
              ) : (
                <td key={j}>{c}</td>
              ),
            )}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Feedback({ error, done }: { error: string | null; done: string | null }) {
  return (
    <>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {done && (
        <p class="done" role="status">
          {done}
        </p>
      )}
    </>
  );
}

function Field(p: {
  label: string;
  name: string;
  value: string;
  onInput: (v: string) => void;
  type?: "text" | "password";
  hint?: string;
}) {
  const id = `f-${p.name}`;
  return (
    <div class="field">
      <label for={id}>{p.label}</label>
      {p.type === "password" ? (
        <input
          id={id}
          name={p.name}
          type="password"
          value={p.value}
          onInput={(e) => p.onInput((e.target as HTMLInputElement).value)}
        />
      ) : (
        <input
          id={id}
          name={p.name}
          type="text"
          value={p.value}
          onInput={(e) => p.onInput((e.target as HTMLInputElement).value)}
        />
      )}
      {p.hint && <small>{p.hint}</small>}
    </div>
  );
}

function SignIn({ onSignedIn }: { onSignedIn: (u: string) => void }) {
  const [user, setUser] = useState("");
  const [password, setPassword] = useState("");
  const [error, done, run] = useAction();
  return (
    <main class="signin">
      <h1>Cloister console</h1>
      <form
        aria-label="Sign in"
        onSubmit={(e) => {
          e.preventDefault();
          void run(async () => {
            const r = await api<{ user: string }>("POST", "/api/login", { user, password });
            onSignedIn(r.user);
          });
        }}
      >
        <Field label="User id" name="user" value={user} onInput={setUser} />
        <Field label="Password" name="password" type="password" value={password} onInput={setPassword} />
        <button type="submit">Sign in</button>
        <Feedback error={error} done={done} />
      </form>
    </main>
  );
}

function Platform() {
  const [p, setP] = useState<Json | null>(null);
  const [error, done, run] = useAction();
  const load = () => run(async () => setP(await api("GET", "/api/platform")));
  useEffect(() => void load(), []);
  if (!p) return <Feedback error={error} done={null} />;
  return (
    <section aria-labelledby="h-platform">
      <h2 id="h-platform">Platform</h2>
      {p.simulated && (
        <p class="banner" role="note" data-testid="simulated">
          SIMULATED TEE — attestation is verified end to end, but no hardware protects the data.
        </p>
      )}
      <DataTable
        caption="Attested endpoints"
        headers={["Endpoint", "Address", "Measurement (MRENCLAVE)", "Status", "Verified at"]}
        rows={p.endpoints}
        rowKey={(e: Json) => e.name}
        cells={(e: Json) => [
          e.name,
          e.address,
          mono(e.mrEnclave),
          <>
            {e.quoteStatus}
            {e.simulated ? " (simulated)" : ""}
          </>,
          e.verifiedAt,
        ]}
      />
      <button
        type="button"
        onClick={() =>
          void run(async () => {
            await api("POST", "/api/platform/attest");
            await load();
            return "Attestation verified again.";
          })
        }
      >
        Verify attestation again
      </button>
      <h3>Measurements the console accepts</h3>
      <p>
        Auditor signatures: <strong>{p.auditors.verified ? "verified" : "NOT verified"}</strong> —{" "}
        {p.auditors.detail}
      </p>
      <DataTable
        headers={["Service", "MRENCLAVE", "MRSIGNER"]}
        rows={p.measurements}
        rowKey={(m: Json) => m.name}
        cells={(m: Json) => [m.name, mono(m.mrEnclave), mono(m.mrSigner)]}
      />
      <Feedback error={error} done={done} />
    </section>
  );
}

function Functions() {
  const [list, setList] = useState<Json[]>([]);
  const [form, setForm] = useState({
    name: "",
    description: "",
    executorType: "builtin",
    arguments: "",
    inputs: "",
    outputs: "",
  });
  const [payload, setPayload] = useState<File | null>(null);
  const [error, done, run] = useAction();
  const load = () =>
    run(async () => setList((await api<{ functions: Json[] }>("GET", "/api/functions")).functions));
  useEffect(() => void load(), []);
  const set = (k: keyof typeof form) => (v: string) => setForm({ ...form, [k]: v });
  return (
    <section aria-labelledby="h-functions">
      <h2 id="h-functions">Functions</h2>
      <DataTable
        headers={["Id", "Name", "Executor", "Owner", "Arguments", "Inputs", "Outputs"]}
        rows={list}
        rowKey={(f) => f.functionId}
        cells={(f) => [
          mono(f.functionId),
          f.name,
          f.executorType,
          <>
            {f.owner}
            {f.mine ? " (you)" : ""}
          </>,
          f.arguments.map((a: Json) => a.key).join(", "),
          f.inputs.join(", "),
          f.outputs.join(", "),
        ]}
      />
      <form
        aria-label="Register a function"
        onSubmit={(e) => {
          e.preventDefault();
          void run(async () => {
            const r = await api<{ functionId: string }>("POST", "/api/functions", {
              ...form,
              arguments: split(form.arguments),
              inputs: split(form.inputs),
              outputs: split(form.outputs),
              ...(payload ? { payloadBase64: await fileToBase64(payload) } : {}),
            });
            await load();
            return `Registered ${r.functionId}`;
          });
        }}
      >
        <h3>Register a function</h3>
        <Field
          label="Name"
          name="fn-name"
          value={form.name}
          onInput={set("name")}
          hint="e.g. builtin-ordered-set-intersect"
        />
        <Field
          label="Description"
          name="fn-description"
          value={form.description}
          onInput={set("description")}
        />
        <div class="field">
          <label for="f-fn-executor">Executor type</label>
          <select
            id="f-fn-executor"
            value={form.executorType}
            onChange={(e) => set("executorType")((e.target as HTMLSelectElement).value)}
          >
            {["builtin", "python", "wamr", "javascript", "libos"].map((x) => (
              <option key={x} value={x}>
                {x}
              </option>
            ))}
          </select>
        </div>
        <Field
          label="Arguments (comma-separated)"
          name="fn-arguments"
          value={form.arguments}
          onInput={set("arguments")}
        />
        <Field
          label="Inputs (comma-separated)"
          name="fn-inputs"
          value={form.inputs}
          onInput={set("inputs")}
        />
        <Field
          label="Outputs (comma-separated)"
          name="fn-outputs"
          value={form.outputs}
          onInput={set("outputs")}
        />
        <div class="field">
          <label for="f-fn-payload">Payload file (not for builtins)</label>
          <input
            id="f-fn-payload"
            type="file"
            onChange={(e) => setPayload((e.target as HTMLInputElement).files?.[0] ?? null)}
          />
        </div>
        <button type="submit">Register function</button>
      </form>
      <Feedback error={error} done={done} />
    </section>
  );
}

function Data() {
  const [file, setFile] = useState<File | null>(null);
  const [outLabel, setOutLabel] = useState("result");
  const [registered, setRegistered] = useState<Json[]>([]);
  const [outputs, setOutputs] = useState<Json[]>([]);
  const [error, done, run] = useAction();
  const load = () =>
    run(async () => setOutputs((await api<{ outputs: Json[] }>("GET", "/api/data/outputs")).outputs));
  useEffect(() => void load(), []);
  return (
    <section aria-labelledby="h-data">
      <h2 id="h-data">Data</h2>
      <form
        aria-label="Register an input"
        onSubmit={(e) => {
          e.preventDefault();
          void run(async () => {
            if (!file) throw new Error("choose a file first");
            const r = await api<Json>("POST", "/api/data/inputs", {
              fileName: file.name,
              contentBase64: await fileToBase64(file),
              schema: "teaclave-file-128",
            });
            setRegistered([...registered, { kind: "input", dataId: r.dataId, label: file.name }]);
            return `Input registered: ${r.dataId}`;
          });
        }}
      >
        <h3>Register an input</h3>
        <p>
          The file is encrypted here, in the console process on this machine, with a fresh key; only the
          encrypted file and its key (inside the attested channel) reach the platform.
        </p>
        <div class="field">
          <label for="f-input-file">Plaintext file</label>
          <input
            id="f-input-file"
            type="file"
            onChange={(e) => setFile((e.target as HTMLInputElement).files?.[0] ?? null)}
          />
        </div>
        <button type="submit">Encrypt and register input</button>
      </form>
      <form
        aria-label="Register an output"
        onSubmit={(e) => {
          e.preventDefault();
          void run(async () => {
            const r = await api<Json>("POST", "/api/data/outputs", {
              label: outLabel,
              schema: "teaclave-file-128",
            });
            setRegistered([...registered, { kind: "output", dataId: r.dataId, label: outLabel }]);
            await load();
            return `Output registered: ${r.dataId}`;
          });
        }}
      >
        <h3>Register an output</h3>
        <Field label="Output label" name="output-label" value={outLabel} onInput={setOutLabel} />
        <button type="submit">Register output</button>
      </form>
      <h3>Registered here</h3>
      <ul data-testid="registered">
        {registered.map((r) => (
          <li key={r.dataId}>
            {r.kind} <span class="mono">{r.dataId}</span> ({r.label})
          </li>
        ))}
      </ul>
      <h3>Your outputs (keys held by this console)</h3>
      <ul>
        {outputs.map((o) => (
          <li key={o.dataId}>
            <span class="mono">{o.dataId}</span> ({o.label})
          </li>
        ))}
      </ul>
      <Feedback error={error} done={done} />
    </section>
  );
}

function Tasks({ open }: { open: (id: string) => void }) {
  const [tasks, setTasks] = useState<Json[]>([]);
  const [form, setForm] = useState({
    functionId: "",
    arguments: "{}",
    executor: "builtin",
    inputs: "",
    outputs: "",
  });
  const [openId, setOpenId] = useState("");
  const [error, done, run] = useAction();
  const load = () => run(async () => setTasks((await api<{ tasks: Json[] }>("GET", "/api/tasks")).tasks));
  useEffect(() => void load(), []);
  const set = (k: keyof typeof form) => (v: string) => setForm({ ...form, [k]: v });
  // "name=alice bob; name2=carol" → ownership list
  const ownership = (s: string) =>
    s
      .split(";")
      .map((x) => x.trim())
      .filter(Boolean)
      .map((part) => {
        const [dataName, owners] = part.split("=");
        return { dataName: (dataName ?? "").trim(), uids: split((owners ?? "").replace(/\s+/g, ",")) };
      });
  return (
    <section aria-labelledby="h-tasks">
      <h2 id="h-tasks">Tasks</h2>
      <form
        aria-label="Open a task"
        onSubmit={(e) => {
          e.preventDefault();
          if (openId.trim()) open(openId.trim());
        }}
      >
        <Field label="Task id someone shared with you" name="open-task" value={openId} onInput={setOpenId} />
        <button type="submit">Open task</button>
      </form>
      <DataTable
        headers={["Task", "Status", "Creator", "Waiting for"]}
        rows={tasks}
        rowKey={(t) => t.taskId}
        cells={(t) => [
          <a href={`#/tasks/${t.taskId}`} class="mono">
            {t.taskId}
          </a>,
          t.status,
          t.creator,
          <>
            {t.missing.assignments.length ? `${t.missing.assignments.length} assignment(s)` : ""}{" "}
            {t.missing.approvals.length ? `approval by ${t.missing.approvals.join(", ")}` : ""}
          </>,
        ]}
      />
      <form
        aria-label="Create a task"
        onSubmit={(e) => {
          e.preventDefault();
          void run(async () => {
            let args: unknown;
            try {
              args = JSON.parse(form.arguments || "{}");
            } catch {
              throw new Error("arguments must be a JSON object");
            }
            const r = await api<{ taskId: string }>("POST", "/api/tasks", {
              functionId: form.functionId.trim(),
              arguments: args,
              executor: form.executor,
              inputsOwnership: ownership(form.inputs),
              outputsOwnership: ownership(form.outputs),
            });
            open(r.taskId);
          });
        }}
      >
        <h3>Create a task</h3>
        <Field label="Function id" name="task-function" value={form.functionId} onInput={set("functionId")} />
        <Field
          label="Arguments (JSON)"
          name="task-arguments"
          value={form.arguments}
          onInput={set("arguments")}
        />
        <div class="field">
          <label for="f-task-executor">Executor</label>
          <select
            id="f-task-executor"
            value={form.executor}
            onChange={(e) => set("executor")((e.target as HTMLSelectElement).value)}
          >
            {["builtin", "mesapy", "python", "python3", "wamr", "javascript", "libos"].map((x) => (
              <option key={x} value={x}>
                {x}
              </option>
            ))}
          </select>
        </div>
        <Field
          label="Input owners"
          name="task-inputs"
          value={form.inputs}
          onInput={set("inputs")}
          hint="input_data1=alice; input_data2=bob"
        />
        <Field
          label="Output owners"
          name="task-outputs"
          value={form.outputs}
          onInput={set("outputs")}
          hint="output_result1=alice; output_result2=bob"
        />
        <button type="submit">Create task</button>
      </form>
      <Feedback error={error} done={done} />
    </section>
  );
}

function TaskDetail({ taskId, user }: { taskId: string; user: string }) {
  const [t, setT] = useState<Json | null>(null);
  const [assign, setAssign] = useState<Record<string, string>>({});
  const [plain, setPlain] = useState<Record<string, string>>({});
  const [evidence, setEvidence] = useState<Json | null>(null);
  const [liveLog, setLiveLog] = useState<Json | null>(null);
  const [error, done, run] = useAction();
  useEffect(() => {
    void run(async () => setT(await api("GET", `/api/tasks/${encodeURIComponent(taskId)}`)));
    const es = new EventSource("/api/events");
    es.addEventListener("task", (ev) => {
      const s = JSON.parse((ev as MessageEvent).data) as Json;
      if (s.taskId === taskId) setT(s);
    });
    return () => es.close();
  }, [taskId]);
  if (!t) return <Feedback error={error} done={done} />;
  const act = (action: string, body?: unknown) =>
    run(async () => {
      setT(await api("POST", `/api/tasks/${encodeURIComponent(taskId)}/${action}`, body));
      return `${action}: done`;
    });
  return (
    <section aria-labelledby="h-task">
      <h2 id="h-task">
        Task{" "}
        <span class="mono" data-testid="task-id">
          {t.taskId}
        </span>
      </h2>
      <p>
        Status:{" "}
        <strong data-testid="task-status" aria-live="polite">
          {t.status}
        </strong>
      </p>
      <p>
        Creator {t.creator}; function <span class="mono">{t.functionId}</span> by {t.functionOwner}; arguments{" "}
        <code>{t.arguments}</code>
      </p>
      <p>
        Participants: {t.participants.join(", ")}; approved: {t.approvedUsers.join(", ") || "nobody yet"}
      </p>
      <h3>Still missing</h3>
      <ul data-testid="missing">
        {t.missing.assignments.map((m: Json) => (
          <li key={m.kind + m.name}>
            {m.kind} <code>{m.name}</code> from {m.owners.join(", ")}
          </li>
        ))}
        {t.missing.approvals.length > 0 && <li>approval by {t.missing.approvals.join(", ")}</li>}
        {t.missing.assignments.length === 0 && t.missing.approvals.length === 0 && <li>nothing</li>}
      </ul>
      {t.mine.assign.length > 0 && (
        <form
          aria-label="Assign your data"
          onSubmit={(e) => {
            e.preventDefault();
            const inputs: Record<string, string> = {};
            const outputs: Record<string, string> = {};
            for (const s of t.mine.assign)
              if (assign[s.name]) (s.kind === "input" ? inputs : outputs)[s.name] = assign[s.name]!.trim();
            void act("assign", { inputs, outputs });
          }}
        >
          <h3>Assign your data</h3>
          {t.mine.assign.map((s: Json) => (
            <Field
              key={s.name}
              label={`${s.kind} ${s.name} (data id)`}
              name={`assign-${s.name}`}
              value={assign[s.name] ?? ""}
              onInput={(v) => setAssign({ ...assign, [s.name]: v })}
            />
          ))}
          <button type="submit">Assign</button>
        </form>
      )}
      <div class="actions">
        {t.mine.approve && (
          <button type="button" onClick={() => void act("approve")}>
            Approve
          </button>
        )}
        {t.mine.invoke && (
          <button type="button" onClick={() => void act("invoke")}>
            Invoke
          </button>
        )}
        {t.mine.cancel && (
          <button type="button" class="danger" onClick={() => void act("cancel")}>
            Cancel task
          </button>
        )}
        <button
          type="button"
          onClick={() =>
            void run(async () => setLiveLog(await api("GET", `/api/tasks/${encodeURIComponent(taskId)}/log`)))
          }
        >
          Show log so far
        </button>
      </div>
      {liveLog && (
        <div data-testid="live-log">
          <h4>Log so far</h4>
          <pre>
            {liveLog.kept
              ? liveLog.lines.join("\n") || "(empty)"
              : "(this task keeps no log: it was created without save_log=true)"}
          </pre>
        </div>
      )}
      {t.result && (
        <div>
          <h3>Result</h3>
          {t.result.ok ? (
            <>
              <p>
                Return value: <code data-testid="return-value">{t.result.returnValue}</code>
              </p>
              <h4>Task log</h4>
              <pre>{t.result.log.join("\n") || "(empty)"}</pre>
            </>
          ) : (
            <p class="error" data-testid="failure">
              Failed: {t.result.reason}
            </p>
          )}
          <button
            type="button"
            onClick={() =>
              void run(async () =>
                setEvidence(await api("GET", `/api/tasks/${encodeURIComponent(taskId)}/evidence`)),
              )
            }
          >
            Show LibOS evidence
          </button>
          {evidence && (
            <div data-testid="evidence">
              <p>
                Evidence: <strong>{evidence.verified ? "verified" : "NOT verified"}</strong>
                {evidence.reason ? ` — ${evidence.reason}` : ""}
              </p>
              {evidence.verified && (
                <ul>
                  <li>
                    runtime {evidence.runtime}, measurement <span class="mono">{evidence.measurement}</span>
                    {evidence.simulated ? " (SIMULATED)" : ""}
                  </li>
                  <li>
                    payload SHA-256 <span class="mono">{evidence.payloadSha256}</span>
                  </li>
                  <li>exit status {evidence.exit}</li>
                </ul>
              )}
            </div>
          )}
          <h4>Outputs</h4>
          <ul>
            {t.outputs.map((o: Json) => (
              <li key={o.name}>
                <code>{o.name}</code> → <span class="mono">{o.dataId ?? "unassigned"}</span> (owners{" "}
                {o.owners.join(", ")}){" "}
                {o.dataId && t.result.ok && o.owners.includes(user) && (
                  <button
                    type="button"
                    onClick={() =>
                      void run(async () => {
                        const r = await api<{ text: string }>(
                          "GET",
                          `/api/data/outputs/${encodeURIComponent(o.dataId)}/plaintext`,
                        );
                        setPlain({ ...plain, [o.name]: r.text });
                      })
                    }
                  >
                    Decrypt {o.name}
                  </button>
                )}
                {plain[o.name] !== undefined && (
                  <pre data-testid={`plaintext-${o.name}`}>{plain[o.name]}</pre>
                )}
              </li>
            ))}
          </ul>
        </div>
      )}
      <Feedback error={error} done={done} />
    </section>
  );
}

/** Audit entries carry microseconds since the epoch (the Teaclave wire's `Entry.microsecond`). */
const auditTime = (us: unknown) =>
  typeof us === "number" && us > 0 ? new Date(us / 1000).toISOString().replace("T", " ").slice(0, 23) : "";

function Audit() {
  const [q, setQ] = useState("*");
  const [entries, setEntries] = useState<Json[]>([]);
  const [error, done, run] = useAction();
  return (
    <section aria-labelledby="h-audit">
      <h2 id="h-audit">Audit log</h2>
      <form
        aria-label="Search the audit log"
        onSubmit={(e) => {
          e.preventDefault();
          void run(async () =>
            setEntries(
              (await api<{ entries: Json[] }>("GET", `/api/audit?q=${encodeURIComponent(q)}`)).entries,
            ),
          );
        }}
      >
        <Field
          label="Query"
          name="audit-query"
          value={q}
          onInput={setQ}
          hint="e.g. user:alice AND result:false"
        />
        <button type="submit">Search</button>
      </form>
      <DataTable
        headers={["Time", "User", "Message", "Result"]}
        rows={entries}
        rowKey={(_e, i) => i}
        cells={(e) => [auditTime(e.microsecond), e.user, e.message, String(e.result)]}
      />
      <Feedback error={error} done={done} />
    </section>
  );
}

function Users() {
  const [users, setUsers] = useState<string[]>([]);
  const [form, setForm] = useState({ user: "", password: "", role: "DataOwner", attribute: "" });
  const [error, done, run] = useAction();
  const load = () => run(async () => setUsers((await api<{ users: string[] }>("GET", "/api/users")).users));
  useEffect(() => void load(), []);
  const set = (k: keyof typeof form) => (v: string) => setForm({ ...form, [k]: v });
  return (
    <section aria-labelledby="h-users">
      <h2 id="h-users">Users</h2>
      <ul>
        {users.map((u) => (
          <li key={u}>{u}</li>
        ))}
      </ul>
      <form
        aria-label="Register a user"
        onSubmit={(e) => {
          e.preventDefault();
          void run(async () => {
            await api("POST", "/api/users", form);
            await load();
            return `Registered ${form.user}`;
          });
        }}
      >
        <h3>Register a user</h3>
        <Field label="User id" name="new-user" value={form.user} onInput={set("user")} />
        <Field
          label="Initial password"
          name="new-password"
          type="password"
          value={form.password}
          onInput={set("password")}
        />
        <div class="field">
          <label for="f-new-role">Role</label>
          <select
            id="f-new-role"
            value={form.role}
            onChange={(e) => set("role")((e.target as HTMLSelectElement).value)}
          >
            {["DataOwner", "DataOwnerManager", "FunctionOwner", "PlatformAdmin"].map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </div>
        <Field
          label="Attribute (group)"
          name="new-attribute"
          value={form.attribute}
          onInput={set("attribute")}
        />
        <button type="submit">Register user</button>
      </form>
      <Feedback error={error} done={done} />
    </section>
  );
}

const PAGES = ["platform", "functions", "data", "tasks", "audit", "users"] as const;

function App() {
  const [user, setUser] = useState<string | null | undefined>(undefined);
  const [hash, setHash] = useState(location.hash || "#/platform");
  useEffect(() => {
    void api<{ user: string | null }>("GET", "/api/session").then(
      (s) => setUser(s.user),
      () => setUser(null),
    );
    const on = () => setHash(location.hash || "#/platform");
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  if (user === undefined) return <p>Loading…</p>;
  if (user === null) return <SignIn onSignedIn={setUser} />;
  const [, page, arg] = hash.split("/");
  const open = (id: string) => {
    location.hash = `#/tasks/${id}`;
  };
  return (
    <>
      <header>
        <strong>Cloister</strong>
        <nav aria-label="Pages">
          {PAGES.map((p) => (
            <a key={p} href={`#/${p}`} aria-current={page === p ? "page" : undefined}>
              {p[0]!.toUpperCase() + p.slice(1)}
            </a>
          ))}
        </nav>
        <span>
          Signed in as <strong data-testid="user">{user}</strong>
        </span>
        <button type="button" onClick={() => void api("POST", "/api/logout").then(() => setUser(null))}>
          Sign out
        </button>
      </header>
      <main>
        {page === "functions" ? (
          <Functions />
        ) : page === "data" ? (
          <Data />
        ) : page === "tasks" && arg ? (
          <TaskDetail taskId={decodeURIComponent(arg)} user={user} />
        ) : page === "tasks" ? (
          <Tasks open={open} />
        ) : page === "audit" ? (
          <Audit />
        ) : page === "users" ? (
          <Users />
        ) : (
          <Platform />
        )}
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
