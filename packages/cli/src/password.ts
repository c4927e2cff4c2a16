import { UsageError } from "./args.js";

export interface PasswordSources {
  /** `--password` */
  flag?: string | undefined;
  /** Name of the environment variable to consult after the flag. */
  envName: string;
  env?: NodeJS.ProcessEnv;
  /** Prompt shown when reading from a terminal. */
  prompt: string;
  /** Ask twice and require both to match (for new passwords). */
  confirm?: boolean;
  input?: NodeJS.ReadStream;
  output?: NodeJS.WritableStream;
}

/**
 * A password from `--password`, else the environment, else an interactive prompt when stdin is a
 * terminal (never echoed). Without any of them the command fails rather than hang on a pipe.
 */
export async function resolvePassword(s: PasswordSources): Promise<string> {
  if (s.flag !== undefined) return s.flag;
  const fromEnv = (s.env ?? process.env)[s.envName];
  if (fromEnv !== undefined) return fromEnv;
  const input = s.input ?? process.stdin;
  const output = s.output ?? process.stderr;
  if (!input.isTTY) {
    throw new UsageError(
      `no password: give --password, set ${s.envName}, or run in a terminal to be prompted`,
    );
  }
  const first = await readHidden(s.prompt, input, output);
  if (s.confirm) {
    const second = await readHidden("Repeat: ", input, output);
    if (first !== second) throw new UsageError("the passwords do not match");
  }
  return first;
}

/** Reads one line from a TTY in raw mode, echoing nothing. Ctrl-C aborts, backspace edits. */
export function readHidden(
  prompt: string,
  input: NodeJS.ReadStream,
  output: NodeJS.WritableStream,
): Promise<string> {
  return new Promise((resolve, reject) => {
    output.write(prompt);
    const wasRaw = input.isRaw;
    input.setRawMode?.(true);
    input.resume();
    input.setEncoding("utf8");
    let value = "";
    const finish = (err?: Error) => {
      input.removeListener("data", onData);
      input.setRawMode?.(wasRaw ?? false);
      input.pause();
      output.write("\n");
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      const chars = [...chunk];
      for (let i = 0; i < chars.length; i++) {
        const ch = chars[i]!;
        if (ch === "\r" || ch === "\n" || ch === "\u0004") {
          // Keystrokes typed (or pasted) ahead belong to the next prompt.
          const rest = chars.slice(i + 1).join("");
          finish();
          if (rest) input.unshift(rest);
          return;
        }
        if (ch === "\u0003") return finish(new UsageError("interrupted"));
        if (ch === "\u007f" || ch === "\b") value = value.slice(0, -1);
        else value += ch;
      }
    };
    input.on("data", onData);
  });
}
