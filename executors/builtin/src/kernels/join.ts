import { TaskFailure } from "@cloister/runtime";
import { utf8 } from "../text.js";
import { type CsvRecord, csvLine, csvRecords } from "./csv.js";

export interface JoinInput {
  data1: Uint8Array;
  data2: Uint8Array;
  leftColumn: number;
  rightColumn: number;
  ascending: boolean;
  drop: boolean;
}
export interface JoinOutput {
  csv: Uint8Array;
  count: number;
}

function keyOf(r: CsvRecord, column: number): Buffer {
  const k = r.fields[column];
  if (k === undefined) throw new TaskFailure("invalid index");
  return Buffer.from(k, "utf8");
}

const without = (fields: string[], column: number) => fields.filter((_, i) => i !== column);

/** Merge join of two CSV files sorted on their key columns (keys compared bytewise). */
export function orderedSetJoin(input: JoinInput): JoinOutput {
  const { leftColumn, rightColumn, ascending, drop } = input;
  const it1 = csvRecords(utf8(input.data1));
  const it2 = csvRecords(utf8(input.data2));
  let r1 = it1.next();
  if (r1.done) throw new TaskFailure("input1 is empty");
  let r2 = it2.next();
  if (r2.done) throw new TaskFailure("input2 is empty");
  let out = "";
  let count = 0;
  for (;;) {
    const rec1: CsvRecord = r1.value;
    const rec2: CsvRecord = r2.value;
    const c = Buffer.compare(keyOf(rec1, leftColumn), keyOf(rec2, rightColumn));
    if (c === 0) {
      const left = drop ? without(rec1.fields, leftColumn) : rec1.fields;
      out += csvLine([...left, ...without(rec2.fields, rightColumn)]);
      count++;
      r1 = it1.next();
      if (r1.done) break;
      r2 = it2.next();
      if (r2.done) break;
    } else if (c < 0 === ascending) {
      r1 = it1.next();
      if (r1.done) break;
    } else {
      r2 = it2.next();
      if (r2.done) break;
    }
  }
  return { csv: Buffer.from(out, "utf8"), count };
}
