import { TaskFailure } from "@cloister/runtime";
import { lines, parseF32, parseF64, rustTrim, utf8 } from "../text.js";

/**
 * Rows of a numeric training/feature file: every line trimmed and non-empty, split on `,`, each
 * field a float, exactly `columns` fields.
 */
export function numericRows(data: Uint8Array, columns: number, parse: (s: string) => number): number[][] {
  const rows: number[][] = [];
  for (const line of lines(utf8(data))) {
    const trimmed = rustTrim(line);
    if (trimmed.length === 0) throw new TaskFailure("Empty line");
    const row = trimmed.split(",").map(parse);
    if (row.length !== columns) {
      throw new TaskFailure(`Data format error: column len = ${row.length}, expected = ${columns}`);
    }
    rows.push(row);
  }
  return rows;
}

export const f64Rows = (data: Uint8Array, columns: number) => numericRows(data, columns, parseF64);
export const f32Rows = (data: Uint8Array, columns: number) => numericRows(data, columns, parseF32);
