// Typed evidence failures. `check` is a stable identifier of the check that failed (tests and
// callers branch on it, never on the message); the message says what was seen.
import { AttestationError } from "@cloister/core";

export class EvidenceError extends AttestationError {
  constructor(
    readonly check: string,
    message: string,
  ) {
    super(`${check}: ${message}`);
    this.name = "EvidenceError";
  }
}

/** One failed check, as reported in `reasons`. */
export interface Failure {
  check: string;
  message: string;
}

export const failureText = (f: Failure): string => `${f.check}: ${f.message}`;

/**
 * Collects failures that do not stop verification (expired windows, revocations), so that one
 * run reports every problem; structural and signature failures throw at once.
 */
export class Findings {
  readonly failures: Failure[] = [];

  fail(check: string, message: string): void {
    this.failures.push({ check, message });
  }

  /** Records a thrown EvidenceError instead of propagating it. */
  capture(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      if (e instanceof EvidenceError) this.fail(e.check, e.message.slice(e.check.length + 2));
      else throw e;
    }
  }
}

export function must(cond: unknown, check: string, message: string): asserts cond {
  if (!cond) throw new EvidenceError(check, message);
}
