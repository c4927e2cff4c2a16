/**
 * The audit-log query language: a Lucene-like syntax over the fields
 * `message` (text, default field), `user` (text), `result` (bool), `date` (timestamp) and
 * `ip` (address). Supported: bare terms, `field:term`, `field:"phrase"`, `+clause`/`-clause`,
 * `AND`/`OR` (AND binds tighter), parentheses, ranges `[a TO b]` / `{a TO b}` with `*` for an
 * open end, and `*` for every entry.
 *
 * Boolean semantics follow the legacy engine: clauses side by side are optional ("should"),
 * `+` makes one required and `-` excludes; when nothing is required at least one optional clause
 * must match, and a query made only of exclusions matches nothing.
 */

/** An audit entry as the query sees it. */
export interface AuditDoc {
  microsecond: number;
  ip: Buffer;
  user: string;
  message: string;
  result: boolean;
}

export class AuditQueryError extends Error {
  constructor(readonly details: string) {
    super(details);
    this.name = "AuditQueryError";
  }
}

type Occur = "should" | "must" | "mustNot";

type Node =
  | { type: "all" }
  | { type: "none" }
  | { type: "text"; field: "message" | "user"; tokens: string[] }
  | { type: "bool"; value: boolean }
  | { type: "range"; field: "date" | "ip"; lo?: bigint; hi?: bigint; loIncl: boolean; hiIncl: boolean }
  | { type: "boolean"; clauses: Array<{ occur: Occur; node: Node }> };

const FIELDS = new Set(["message", "user", "result", "date", "ip"]);
const MAX_TOKEN_BYTES = 40;

/** Split on non-alphanumeric characters, lower-case, drop tokens longer than 40 bytes (positions kept). */
export function tokenize(text: string): Array<{ token: string; pos: number }> {
  const out: Array<{ token: string; pos: number }> = [];
  let pos = 0;
  for (const m of text.matchAll(/[\p{Alphabetic}\p{N}]+/gu)) {
    const token = m[0].toLowerCase();
    if (Buffer.byteLength(token, "utf8") <= MAX_TOKEN_BYTES) out.push({ token, pos });
    pos++;
  }
  return out;
}

// ---- lexer/parser ------------------------------------------------------------------------------

const WORD_START_EXCLUDED = new Set([...'-+:{}"[]()^']);
const WORD_EXCLUDED = new Set([...':{}"[]()^']);
const VALUE_EXCLUDED = new Set([...'(){}"[]^']);

class Parser {
  i = 0;
  constructor(readonly s: string) {}

  fail(): never {
    throw new AuditQueryError(`SyntaxError(${JSON.stringify(this.s)})`);
  }

  ws(): void {
    while (this.i < this.s.length && /\s/.test(this.s[this.i]!)) this.i++;
  }

  peek(): string | undefined {
    return this.s[this.i];
  }

  /** Is the reserved word `w` (AND/OR) next, as a whole word? */
  keyword(w: string): boolean {
    if (!this.s.startsWith(w, this.i)) return false;
    const after = this.s[this.i + w.length];
    return after === undefined || /\s/.test(after) || after === "(";
  }

  query(inGroup: boolean): Node {
    // Items joined by AND form one conjunction; conjunctions side by side / joined by OR are
    // the clauses of the enclosing boolean query.
    const groups: Array<Array<{ occur: Occur; node: Node }>> = [];
    let current: Array<{ occur: Occur; node: Node }> = [];
    let pendingAnd = false;
    for (;;) {
      this.ws();
      const c = this.peek();
      if (c === undefined) break;
      if (c === ")") {
        if (!inGroup) this.fail();
        break;
      }
      if (this.keyword("AND")) {
        if (current.length === 0 || pendingAnd) this.fail();
        this.i += 3;
        pendingAnd = true;
        continue;
      }
      if (this.keyword("OR")) {
        if (current.length === 0 || pendingAnd) this.fail();
        this.i += 2;
        groups.push(current);
        current = [];
        continue;
      }
      const item = this.clause();
      if (pendingAnd || current.length === 0) current.push(item);
      else {
        groups.push(current);
        current = [item];
      }
      pendingAnd = false;
    }
    if (pendingAnd) this.fail();
    if (current.length) groups.push(current);
    if (groups.length === 0) {
      if (inGroup) this.fail();
      return { type: "none" };
    }
    const clauses = groups.map((g) => {
      if (g.length === 1) return g[0]!;
      // In a conjunction every positive member is required.
      const members = g.map((x) => ({
        occur: x.occur === "mustNot" ? ("mustNot" as const) : ("must" as const),
        node: x.node,
      }));
      return { occur: "should" as Occur, node: { type: "boolean", clauses: members } as Node };
    });
    return { type: "boolean", clauses };
  }

  clause(): { occur: Occur; node: Node } {
    let occur: Occur = "should";
    const c = this.peek();
    if (c === "+" || c === "-") {
      occur = c === "+" ? "must" : "mustNot";
      this.i++;
    }
    return { occur, node: this.atom() };
  }

  atom(): Node {
    const c = this.peek();
    if (c === undefined || /\s/.test(c)) this.fail();
    if (c === "(") {
      this.i++;
      const q = this.query(true);
      if (this.peek() !== ")") this.fail();
      this.i++;
      return q;
    }
    if (c === "*") {
      this.i++;
      const n = this.peek();
      if (n !== undefined && !/\s/.test(n) && n !== ")") this.fail();
      return { type: "all" };
    }
    if (c === '"') return textNode("message", this.quoted());
    const word = this.word();
    if (this.peek() === ":") {
      this.i++;
      if (!FIELDS.has(word)) throw new AuditQueryError(`FieldDoesNotExist(${JSON.stringify(word)})`);
      return this.fieldValue(word);
    }
    return textNode("message", word);
  }

  word(): string {
    const start = this.i;
    const first = this.peek();
    if (first === undefined || WORD_START_EXCLUDED.has(first) || /\s/.test(first)) this.fail();
    this.i++;
    while (this.i < this.s.length) {
      const ch = this.s[this.i]!;
      if (/\s/.test(ch) || WORD_EXCLUDED.has(ch)) break;
      this.i++;
    }
    return this.s.slice(start, this.i);
  }

  quoted(): string {
    this.i++; // opening quote
    const end = this.s.indexOf('"', this.i);
    if (end < 0) this.fail();
    const v = this.s.slice(this.i, end);
    this.i = end + 1;
    return v;
  }

  /** A bare field value: up to whitespace or a grouping character (colons allowed, for dates). */
  bareValue(): string {
    const start = this.i;
    while (this.i < this.s.length) {
      const ch = this.s[this.i]!;
      if (/\s/.test(ch) || VALUE_EXCLUDED.has(ch)) break;
      this.i++;
    }
    if (this.i === start) this.fail();
    return this.s.slice(start, this.i);
  }

  fieldValue(field: string): Node {
    const c = this.peek();
    if (c === "[" || c === "{") return this.range(field);
    const raw = c === '"' ? this.quoted() : this.bareValue();
    switch (field) {
      case "message":
      case "user":
        return textNode(field, raw);
      case "result":
        if (raw === "true" || raw === "false") return { type: "bool", value: raw === "true" };
        throw new AuditQueryError(`ExpectedBool(${JSON.stringify(raw)})`);
      case "date": {
        const v = parseDate(raw);
        return { type: "range", field: "date", lo: v, hi: v, loIncl: true, hiIncl: true };
      }
      default: {
        const v = parseIp(raw);
        return { type: "range", field: "ip", lo: v, hi: v, loIncl: true, hiIncl: true };
      }
    }
  }

  range(field: string): Node {
    if (field !== "date" && field !== "ip")
      throw new AuditQueryError(`UnsupportedQuery(${JSON.stringify(`range on field ${field}`)})`);
    const loIncl = this.peek() === "[";
    this.i++;
    this.ws();
    const a = this.bound();
    this.ws();
    if (!this.s.startsWith("TO", this.i)) this.fail();
    this.i += 2;
    this.ws();
    const b = this.bound();
    this.ws();
    const close = this.peek();
    if (close !== "]" && close !== "}") this.fail();
    this.i++;
    const conv = (v: string | undefined) =>
      v === undefined ? undefined : field === "date" ? parseDate(v) : parseIp(v);
    return { type: "range", field, lo: conv(a), hi: conv(b), loIncl, hiIncl: close === "]" };
  }

  bound(): string | undefined {
    if (this.peek() === '"') return this.quoted();
    const start = this.i;
    while (this.i < this.s.length && /[\p{L}\p{N}\-.:+_*]/u.test(this.s[this.i]!)) this.i++;
    const v = this.s.slice(start, this.i);
    if (v === "") this.fail();
    return v === "*" ? undefined : v;
  }
}

function textNode(field: "message" | "user", raw: string): Node {
  const tokens = tokenize(raw).map((t) => t.token);
  return tokens.length === 0 ? { type: "none" } : { type: "text", field, tokens };
}

function parseDate(v: string): bigint {
  // RFC 3339 with an explicit offset, as the legacy date parser requires.
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(v))
    throw new AuditQueryError(`DateFormatError(${JSON.stringify(v)})`);
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) throw new AuditQueryError(`DateFormatError(${JSON.stringify(v)})`);
  const frac = /\.(\d+)/.exec(v)?.[1] ?? "";
  const subMs = BigInt((frac.slice(3, 6) || "0").padEnd(3, "0"));
  return BigInt(ms) * 1000n + subMs;
}

/** An address as a 128-bit number (IPv4 as IPv4-mapped IPv6). */
function parseIp(v: string): bigint {
  const bytes = ipBytes(v);
  if (!bytes) throw new AuditQueryError(`ExpectedValidIpAddr(${JSON.stringify(v)})`);
  return BigInt(`0x${bytes.toString("hex")}`);
}

function ipBytes(v: string): Buffer | undefined {
  const s = v.startsWith("[") && v.endsWith("]") ? v.slice(1, -1) : v;
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (v4) {
    const parts = v4.slice(1).map(Number);
    if (parts.some((p) => p > 255)) return undefined;
    return Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...parts]);
  }
  if (!s.includes(":")) return undefined;
  try {
    const host = new URL(`http://[${s}]/`).hostname.slice(1, -1);
    const halves = host.split("::");
    const expand = (p: string) => (p === "" ? [] : p.split(":"));
    const head = expand(halves[0] ?? "");
    const tail = expand(halves[1] ?? "");
    const groups = [...head, ...Array(8 - head.length - tail.length).fill("0"), ...tail];
    return Buffer.from(groups.map((g) => g.padStart(4, "0")).join(""), "hex");
  } catch {
    return undefined;
  }
}

/** Stored addresses of IPv4 clients are IPv4-compatible (`::a.b.c.d`); compare them as mapped. */
function docIp(ip: Buffer): bigint {
  const b = Buffer.alloc(16);
  ip.copy(b, 16 - Math.min(16, ip.length));
  const compat = b.subarray(0, 12).every((x) => x === 0) && b.readUInt32BE(12) > 1;
  if (compat) {
    b[10] = 0xff;
    b[11] = 0xff;
  }
  return BigInt(`0x${b.toString("hex")}`);
}

// ---- evaluation --------------------------------------------------------------------------------

function phraseIn(text: string, tokens: string[]): boolean {
  const toks = tokenize(text);
  const byPos = new Map(toks.map((t) => [t.pos, t.token]));
  for (const t of toks) {
    if (t.token !== tokens[0]) continue;
    if (tokens.every((x, k) => byPos.get(t.pos + k) === x)) return true;
  }
  return false;
}

function matches(n: Node, d: AuditDoc): boolean {
  switch (n.type) {
    case "all":
      return true;
    case "none":
      return false;
    case "text":
      return phraseIn(n.field === "message" ? d.message : d.user, n.tokens);
    case "bool":
      return d.result === n.value;
    case "range": {
      const v = n.field === "date" ? BigInt(Math.trunc(d.microsecond)) : docIp(d.ip);
      if (n.lo !== undefined && (n.loIncl ? v < n.lo : v <= n.lo)) return false;
      if (n.hi !== undefined && (n.hiIncl ? v > n.hi : v >= n.hi)) return false;
      return true;
    }
    case "boolean": {
      let hasMust = false;
      let hasShould = false;
      let anyShould = false;
      for (const c of n.clauses) {
        const m = matches(c.node, d);
        if (c.occur === "mustNot") {
          if (m) return false;
        } else if (c.occur === "must") {
          hasMust = true;
          if (!m) return false;
        } else {
          hasShould = true;
          anyShould ||= m;
        }
      }
      if (hasMust) return true;
      return hasShould && anyShould;
    }
  }
}

/** Compile a query string into a predicate; throws AuditQueryError when it does not parse. */
export function compileQuery(query: string): (d: AuditDoc) => boolean {
  const p = new Parser(query);
  const node = p.query(false);
  return (d) => matches(node, d);
}
