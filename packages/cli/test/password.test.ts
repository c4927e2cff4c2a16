import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { describe, test } from "node:test";
import { resolvePassword } from "../src/password.js";

/** A stand-in terminal: a readable stream that claims to be a TTY and records raw mode. */
function fakeTty(typed: string) {
  const input = new PassThrough() as unknown as NodeJS.ReadStream & { rawModes: boolean[] };
  input.isTTY = true;
  input.rawModes = [];
  input.setRawMode = (mode: boolean) => {
    input.rawModes.push(mode);
    return input;
  };
  const written: string[] = [];
  const output = new PassThrough();
  output.on("data", (c: Buffer) => written.push(c.toString()));
  setImmediate(() => (input as unknown as PassThrough).write(typed));
  return { input, output, written };
}

describe("passwords", () => {
  test("--password wins over the environment, the environment over a prompt", async () => {
    const env = { CLOISTER_PASSWORD: "from-env" };
    assert.equal(
      await resolvePassword({ flag: "flag", envName: "CLOISTER_PASSWORD", env, prompt: "" }),
      "flag",
    );
    assert.equal(
      await resolvePassword({ flag: undefined, envName: "CLOISTER_PASSWORD", env, prompt: "" }),
      "from-env",
    );
    assert.equal(await resolvePassword({ flag: "", envName: "CLOISTER_PASSWORD", env, prompt: "" }), "");
  });

  test("without a terminal and without a password the command fails instead of hanging", async () => {
    const input = new PassThrough() as unknown as NodeJS.ReadStream;
    await assert.rejects(
      resolvePassword({ envName: "CLOISTER_PASSWORD", env: {}, prompt: "Password: ", input }),
      /give --password, set CLOISTER_PASSWORD, or run in a terminal/,
    );
  });

  test("a terminal prompt reads in raw mode, never echoes, and handles backspace", async () => {
    const { input, output, written } = fakeTty("s3cretX\u007f\r");
    const pw = await resolvePassword({
      envName: "X",
      env: {},
      prompt: "Password for admin: ",
      input,
      output,
    });
    assert.equal(pw, "s3cret");
    assert.equal(written.join(""), "Password for admin: \n");
    assert.deepEqual(input.rawModes, [true, false]);
  });

  test("a new password asked twice must match", async () => {
    const ok = fakeTty("pw\rpw\r");
    assert.equal(
      await resolvePassword({
        envName: "X",
        env: {},
        prompt: "New: ",
        confirm: true,
        input: ok.input,
        output: ok.output,
      }),
      "pw",
    );
    const bad = fakeTty("pw\rpx\r");
    await assert.rejects(
      resolvePassword({
        envName: "X",
        env: {},
        prompt: "New: ",
        confirm: true,
        input: bad.input,
        output: bad.output,
      }),
      /do not match/,
    );
  });
});
