/**
 * Counted places per user (followed task logs, held GetTask answers): one user cannot hold more
 * than `perUser` at once, whatever the others hold.
 */
export class UserSlots {
  private readonly held = new Map<string, number>();
  constructor(private readonly perUser: number) {}

  /** A release function (calling it again does nothing), or undefined when the user holds `perUser`. */
  tryTake(user: string): (() => void) | undefined {
    const n = this.held.get(user) ?? 0;
    if (n >= this.perUser) return undefined;
    this.held.set(user, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.held.get(user) ?? 1) - 1;
      if (left <= 0) this.held.delete(user);
      else this.held.set(user, left);
    };
  }
}
