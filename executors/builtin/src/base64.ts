import { TaskFailure } from "@cloister/runtime";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const VALUE = new Int8Array(256).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) VALUE[ALPHABET.charCodeAt(i)] = i;

/**
 * Standard-alphabet base64 decoding as strict as the legacy decoder (Node's own decoder silently
 * skips bad characters). Failure texts follow the legacy ones but leave out the offending byte:
 * the text may be a key.
 */
export function decodeBase64(s: string): Buffer {
  let end = s.length;
  let pads = 0;
  while (end > 0 && s.charCodeAt(end - 1) === 0x3d && pads < 2) {
    end--;
    pads++;
  }
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c > 255 || (VALUE[c] as number) < 0) throw new TaskFailure(`Invalid byte, offset ${i}.`);
  }
  if (end % 4 === 1) throw new TaskFailure("Encoded text cannot have a 6-bit remainder.");
  if (pads > 0 && (end + pads) % 4 !== 0) throw new TaskFailure(`Invalid byte, offset ${end}.`);
  const rem = end % 4;
  if (rem !== 0) {
    // The unused low bits of the last symbol must be zero, or two texts would decode alike.
    const last = VALUE[s.charCodeAt(end - 1)] as number;
    const unusedMask = rem === 2 ? 0x0f : 0x03;
    if ((last & unusedMask) !== 0) throw new TaskFailure(`Invalid last symbol, offset ${end - 1}.`);
  }
  return Buffer.from(s.slice(0, end), "base64");
}
