import { rustTrim, utf8 } from "../text.js";

const U32_DECIMAL = /^\+?\d+$/;

/** `identity : amount` lines of one party; malformed lines are skipped, later duplicates win. */
function parseParty(data: Uint8Array): Map<string, number> {
  const out = new Map<string, number>();
  for (const raw of utf8(data).split("\n")) {
    const line = rustTrim(raw);
    if (Buffer.byteLength(line) < 3) continue;
    const parts = line.split(":");
    if (parts.length !== 2) continue;
    const id = rustTrim(parts[0] as string);
    const amountText = rustTrim(parts[1] as string);
    if (!U32_DECIMAL.test(amountText)) continue;
    const amount = Number(amountText);
    if (amount > 0xffff_ffff) continue;
    out.set(id, amount);
  }
  return out;
}

/**
 * Identities present in every party's data with the sum of their amounts, one `<id>, <sum>` line
 * each. Sums are exact (the legacy u32 addition would wrap past 2^32 - 1).
 */
export function privateJoinAndCompute(inputs: Uint8Array[]): Uint8Array {
  let acc = parseParty(inputs[0] ?? new Uint8Array());
  for (const data of inputs.slice(1)) {
    const party = parseParty(data);
    const next = new Map<string, number>();
    for (const [id, sum] of acc) {
      const amount = party.get(id);
      if (amount !== undefined) next.set(id, amount + sum);
    }
    acc = next;
  }
  let out = "";
  for (const [id, sum] of acc) out += `${id}, ${sum}\n`;
  return Buffer.from(out, "utf8");
}
