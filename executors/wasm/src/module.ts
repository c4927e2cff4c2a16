/**
 * Static checks of a task's WebAssembly module before it is instantiated, and the one rewrite we
 * make: capping the declared maximum of its linear memory. Node's reflection API does not expose
 * import signatures, so the few sections we need are read from the binary directly.
 */

/** A module the executor refuses to run; the message is the task's failure reason. */
export class WasmModuleError extends Error {
  constructor(detail: string) {
    super(`Invalid WebAssembly module: ${detail}`);
    this.name = "WasmModuleError";
  }
}

export const WASM_PAGE = 65536;
/** Largest memory a wasm32 module can address. */
export const MAX_WASM32_PAGES = 65536;

type ValType = "i32" | "i64" | "f32" | "f64" | "v128" | "funcref" | "externref";
interface FuncType {
  params: ValType[];
  results: ValType[];
}

const VALTYPES: Record<number, ValType> = {
  127: "i32",
  126: "i64",
  125: "f32",
  124: "f64",
  123: "v128",
  112: "funcref",
  111: "externref",
};

/** The host functions of the payload ABI, all in module `env`. */
export const HOST_IMPORTS: Readonly<Record<string, string>> = {
  teaclave_open_input: "(i32) -> i32",
  teaclave_create_output: "(i32) -> i32",
  teaclave_read_file: "(i32, i32, i32) -> i32",
  teaclave_write_file: "(i32, i32, i32) -> i32",
  teaclave_close_file: "(i32) -> i32",
};
export const HOST_MODULE = "env";
const ENTRYPOINT_TYPE = "(i32, i32) -> i32";

export interface PreparedModule {
  /** The module binary, with the memory maximum capped. */
  bytes: Uint8Array;
  /** Pages the memory may grow to. */
  maxPages: number;
  /** True when the module asked for more memory than allowed (so hitting the cap is our limit). */
  capped: boolean;
}

class Reader {
  pos = 0;
  constructor(
    readonly buf: Uint8Array,
    readonly end = buf.length,
  ) {}
  byte(): number {
    if (this.pos >= this.end) throw new WasmModuleError("unexpected end of section");
    return this.buf[this.pos++] as number;
  }
  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) break;
      shift += 7;
      if (shift > 28) throw new WasmModuleError("malformed LEB128 integer");
    }
    if (result > 0xffffffff) throw new WasmModuleError("malformed LEB128 integer");
    return result;
  }
  name(): string {
    const len = this.u32();
    if (this.pos + len > this.end) throw new WasmModuleError("unexpected end of section");
    const s = new TextDecoder("utf-8", { fatal: false }).decode(this.buf.subarray(this.pos, this.pos + len));
    this.pos += len;
    return s;
  }
  valtype(): ValType {
    const b = this.byte();
    const t = VALTYPES[b];
    if (!t) throw new WasmModuleError(`unsupported value type 0x${b.toString(16)}`);
    return t;
  }
}

function sig(t: FuncType | undefined): string {
  if (!t) return "(unknown type)";
  return `(${t.params.join(", ")}) -> ${t.results.length === 1 ? t.results[0] : `(${t.results.join(", ")})`}`;
}

function encodeU32(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/**
 * Checks `bytes` against the module contract and caps its memory at `maxPages`.
 * Throws WasmModuleError naming the first problem.
 */
export function prepareModule(bytes: Uint8Array, maxPages: number): PreparedModule {
  if (!WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>)) {
    try {
      new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
    } catch (e) {
      throw new WasmModuleError(e instanceof Error ? e.message : "does not validate");
    }
    throw new WasmModuleError("does not validate");
  }
  const r = new Reader(bytes);
  r.pos = 8; // magic + version, checked by validate()
  const types: FuncType[] = [];
  const funcTypes: number[] = []; // type index per function index (imports first)
  let memory: { start: number; end: number; min: number; max: number | null } | null = null;
  let entrypoint: number | null = null;
  let memoryExported = false;

  while (r.pos < bytes.length) {
    const sectionStart = r.pos;
    const id = r.byte();
    const size = r.u32();
    const start = r.pos;
    const end = start + size;
    const s = new Reader(bytes, end);
    s.pos = start;
    switch (id) {
      case 1: {
        const n = s.u32();
        for (let i = 0; i < n; i++) {
          const form = s.byte();
          if (form !== 0x60) throw new WasmModuleError(`unsupported type form 0x${form.toString(16)}`);
          const params = Array.from({ length: s.u32() }, () => s.valtype());
          const results = Array.from({ length: s.u32() }, () => s.valtype());
          types.push({ params, results });
        }
        break;
      }
      case 2: {
        const n = s.u32();
        for (let i = 0; i < n; i++) {
          const mod = s.name();
          const field = s.name();
          const kind = s.byte();
          const expected = mod === HOST_MODULE ? HOST_IMPORTS[field] : undefined;
          if (kind !== 0 || expected === undefined) {
            throw new WasmModuleError(
              `unknown import "${mod}"."${field}" (only ${HOST_MODULE}.teaclave_* functions are provided)`,
            );
          }
          const t = s.u32();
          if (sig(types[t]) !== expected) {
            throw new WasmModuleError(
              `import "${mod}"."${field}" has type ${sig(types[t])}, expected ${expected}`,
            );
          }
          funcTypes.push(t);
        }
        break;
      }
      case 3: {
        const n = s.u32();
        for (let i = 0; i < n; i++) funcTypes.push(s.u32());
        break;
      }
      case 5: {
        const n = s.u32();
        if (n > 1) throw new WasmModuleError("more than one memory");
        if (n === 1) {
          const flags = s.byte();
          if (flags > 1) throw new WasmModuleError("shared or 64-bit memories are not supported");
          const min = s.u32();
          const max = flags === 1 ? s.u32() : null;
          memory = { start: sectionStart, end, min, max };
        }
        break;
      }
      case 7: {
        const n = s.u32();
        for (let i = 0; i < n; i++) {
          const name = s.name();
          const kind = s.byte();
          const index = s.u32();
          if (name === "entrypoint" && kind === 0) entrypoint = index;
          if (name === "memory" && kind === 2) memoryExported = true;
        }
        break;
      }
      default:
        break;
    }
    r.pos = end;
  }

  const entryType = entrypoint === null ? undefined : types[funcTypes[entrypoint] ?? -1];
  if (entrypoint === null || sig(entryType) !== ENTRYPOINT_TYPE) {
    throw new WasmModuleError(`no exported function "entrypoint" of type ${ENTRYPOINT_TYPE}`);
  }
  if (!memory || !memoryExported) throw new WasmModuleError('the module must define and export "memory"');
  if (memory.min > maxPages) {
    throw new WasmModuleError(
      `initial memory of ${memory.min} pages exceeds the limit of ${maxPages} pages (${maxPages * WASM_PAGE} bytes)`,
    );
  }
  const declaredMax = memory.max ?? MAX_WASM32_PAGES;
  if (declaredMax <= maxPages) return { bytes, maxPages: declaredMax, capped: false };

  const body = [0x01, 0x01, ...encodeU32(memory.min), ...encodeU32(maxPages)];
  const section = Uint8Array.from([5, ...encodeU32(body.length), ...body]);
  const rewritten = Buffer.concat([bytes.subarray(0, memory.start), section, bytes.subarray(memory.end)]);
  return { bytes: rewritten, maxPages, capped: true };
}
