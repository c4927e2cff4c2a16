import { TaskFailure } from "@cloister/runtime";

/** One CSV record with where it started, for error texts. */
export interface CsvRecord {
  fields: string[];
  index: number;
  line: number;
}

/**
 * RFC-4180 records, read lazily like the legacy streaming reader: no header, `,` separator,
 * `"` quoting with `""` escapes, `\r`, `\n` or `\r\n` ending a record, blank lines skipped, and
 * every record required to have as many fields as the first one.
 */
export function* csvRecords(text: string): Generator<CsvRecord> {
  const n = text.length;
  let pos = 0;
  let line = 1;
  let index = 0;
  let expected = -1;
  while (pos < n) {
    const c0 = text[pos];
    if (c0 === "\n" || c0 === "\r") {
      if (c0 === "\n") line++;
      else if (text[pos + 1] !== "\n") line++;
      pos++;
      continue;
    }
    const startLine = line;
    const startPos = pos;
    const fields: string[] = [];
    let field = "";
    let ended = false;
    while (!ended) {
      // Start of a field.
      if (text[pos] === '"') {
        pos++;
        for (;;) {
          if (pos >= n) break;
          const c = text[pos] as string;
          if (c === '"') {
            if (text[pos + 1] === '"') {
              field += '"';
              pos += 2;
              continue;
            }
            pos++;
            break;
          }
          if (c === "\n") line++;
          field += c;
          pos++;
        }
      }
      // Unquoted part (or what follows a closing quote, taken literally as the legacy reader does).
      for (;;) {
        if (pos >= n) {
          fields.push(field);
          ended = true;
          break;
        }
        const c = text[pos] as string;
        if (c === ",") {
          fields.push(field);
          field = "";
          pos++;
          break;
        }
        if (c === "\n" || c === "\r") {
          fields.push(field);
          ended = true;
          break;
        }
        field += c;
        pos++;
      }
    }
    if (expected < 0) expected = fields.length;
    else if (fields.length !== expected) {
      throw new TaskFailure(
        `CSV error: record ${index} (line: ${startLine}, byte: ${Buffer.byteLength(text.slice(0, startPos))}): found record with ${fields.length} fields, but the previous record has ${expected} fields`,
      );
    }
    yield { fields, index: index++, line: startLine };
  }
}

/** A record as the legacy writer emits it: quoted only when needed, `\n`-terminated. */
export function csvLine(fields: readonly string[]): string {
  if (fields.length === 1 && fields[0] === "") return '""\n';
  return `${fields.map((f) => (/[",\r\n]/.test(f) ? `"${f.replaceAll('"', '""')}"` : f)).join(",")}\n`;
}
