import { writeFileSync } from "node:fs";
import { decryptFile, encryptFile, generateFileCryptoInfo, parseFileCryptoInfo } from "@cloister/crypto";
import { fetchOutput } from "@cloister/sdk";
import type { Command } from "commander";
import { hex, schema as parseSchema } from "../args.js";
import { cryptoInfoFile, resolveCrypto, saveCryptoInfo } from "../crypto-info.js";
import type { Cli } from "./client.js";

export function fileCommands(program: Command, cli: Cli): void {
  const file = program
    .command("file")
    .description("prepare data: encrypt and decrypt files in the platform's formats");

  file
    .command("encrypt <in> <out>")
    .description("encrypt a file for upload; prints schema, key, iv and cmac (for `data register-input`)")
    .requiredOption("--schema <schema>", "aes-gcm-128, aes-gcm-256 or teaclave-file-128")
    .option("--key <hex>", "key (default: a new random one, printed)")
    .option("--iv <hex>", "iv for aes-gcm (default: random)")
    .option(
      "--save-info <file>",
      "also write the crypto info with the cmac to this file (mode 0600), for --info",
    )
    .action(
      async (
        input: string,
        output: string,
        o: { schema: string; key?: string; iv?: string; saveInfo?: string },
      ) => {
        const schema = parseSchema(o.schema);
        const info = o.key
          ? parseFileCryptoInfo({ schema, key: hex(o.key, "key"), iv: hex(o.iv, "iv") })
          : generateFileCryptoInfo(schema);
        const { cmac } = await encryptFile(input, output, info);
        const view = cryptoInfoFile(info as { schema: string; key?: Uint8Array; iv?: Uint8Array }, cmac);
        if (o.saveInfo) saveCryptoInfo(o.saveInfo, view);
        cli.print(`schema ${view.schema}\nkey    ${view.key}\niv     ${view.iv}\ncmac   ${view.cmac}`, view);
      },
    );

  file
    .command("decrypt <in> <out>")
    .description("decrypt a local file (checks the tag; --cmac also checks it is the expected file)")
    .option("--info <file>", "crypto info JSON (from --save-info or `file encrypt --json`)")
    .option("--schema <schema>")
    .option("--key <hex>")
    .option("--iv <hex>")
    .option("--cmac <hex>", "expected tag")
    .action(async (input: string, output: string, o: Record<string, string | undefined>) => {
      const { cryptoInfo, cmac: expected } = resolveCrypto(o);
      const info = parseFileCryptoInfo(cryptoInfo);
      const { cmac } = await decryptFile(input, output, info, expected);
      cli.print(`decrypted; cmac ${cmac.toString("hex")}`, { cmac: cmac.toString("hex") });
    });

  file
    .command("fetch <url-or-path> <out>")
    .description("download (http/https/file URL or path) and decrypt a task's result file")
    .option("--info <file>", "crypto info JSON saved when the output was registered")
    .option("--schema <schema>")
    .option("--key <hex>")
    .option("--iv <hex>")
    .option("--cmac <hex>", "expected tag (the task's output tag)")
    .action(async (source: string, output: string, o: Record<string, string | undefined>) => {
      // An output's info file has no cmac; the tag comes from the task result or --cmac.
      const { cryptoInfo, cmac: expected } = resolveCrypto(o);
      const { plaintext, cmac } = await fetchOutput(source, cryptoInfo, expected ? { cmac: expected } : {});
      writeFileSync(output, plaintext, { mode: 0o600 });
      cli.print(`fetched ${plaintext.length} bytes into ${output}; cmac ${cmac.toString("hex")}`, {
        out: output,
        bytes: plaintext.length,
        cmac: cmac.toString("hex"),
      });
    });
}
