import type { Command } from "commander";
import { UsageError } from "../args.js";
import { cryptoInfoFile, resolveCrypto, saveCryptoInfo } from "../crypto-info.js";
import { fileView, formatFile } from "../format.js";
import { type Cli, clientOptions, withClient } from "./client.js";

const cryptoOptions = (c: Command) =>
  c
    .option("--info <file>", "crypto info JSON as written by `file encrypt --json` or --save-info")
    .option("--schema <schema>", "aes-gcm-128, aes-gcm-256, teaclave-file-128 or raw")
    .option("--key <hex>", "key")
    .option("--iv <hex>", "iv (aes-gcm)");

export function dataCommands(program: Command, cli: Cli): void {
  const data = program.command("data").description("input and output files");

  cryptoOptions(clientOptions(data.command("register-input")))
    .description("register an encrypted input file; prints its data id")
    .requiredOption(
      "--url <url>",
      "where the execution service fetches it (http, https, data; file: only inside your own exchange directory)",
    )
    .option("--cmac <hex>", "the file's tag (from `file encrypt`)")
    .action(
      withClient(cli, async (client, _args, o) => {
        const { cryptoInfo, cmac } = resolveCrypto(o);
        if (!cmac) throw new UsageError("give --cmac or an --info file with a cmac");
        const id = await client.registerInputFile(o.url as string, cmac, cryptoInfo);
        cli.print(id, { data_id: id });
      }),
    );

  cryptoOptions(clientOptions(data.command("register-output")))
    .description("register an output file location; without --key a fresh key is generated and shown")
    .requiredOption(
      "--url <url>",
      "where the execution service writes the result (http, https; file: only inside your own exchange directory)",
    )
    .option("--save-info <file>", "write the crypto info (with the key) to this file, mode 0600")
    .action(
      withClient(cli, async (client, _args, o) => {
        const { cryptoInfo, generated } = resolveCrypto(o, { generate: true });
        const id = await client.registerOutputFile(o.url as string, cryptoInfo);
        const info = cryptoInfoFile(cryptoInfo);
        if (o.saveInfo) saveCryptoInfo(o.saveInfo as string, info);
        const lines = [id];
        if (generated && !o.saveInfo)
          lines.push(
            `  generated key ${info.key}${info.iv ? ` iv ${info.iv}` : ""} (keep it to decrypt the result)`,
          );
        if (o.saveInfo) lines.push(`  crypto info saved in ${o.saveInfo}`);
        cli.print(lines.join("\n"), { data_id: id, crypto_info: info });
      }),
    );

  for (const kind of ["input", "output"] as const) {
    clientOptions(data.command(`update-${kind} <data-id>`))
      .description(`move an ${kind} to a new URL (creates a new id with the same key and owners)`)
      .requiredOption("--url <url>", "new location")
      .action(
        withClient(cli, async (client, [id], o) => {
          const url = o.url as string;
          const newId =
            kind === "input"
              ? await client.updateInputFile(id!, url)
              : await client.updateOutputFile(id!, url);
          cli.print(newId, { data_id: newId, previous_data_id: id });
        }),
      );
    clientOptions(data.command(`get-${kind} <data-id>`))
      .description(`owners and cmac of an ${kind} file (owners only)`)
      .action(
        withClient(cli, async (client, [id]) => {
          const f = kind === "input" ? await client.getInputFile(id!) : await client.getOutputFile(id!);
          const view = fileView(id!, f);
          cli.print(formatFile(view), view);
        }),
      );
  }

  clientOptions(data.command("fusion"))
    .description(
      "register an output owned jointly (encrypted with a platform key; reusable only as an input)",
    )
    .requiredOption("--owner <id...>", "all owners, yourself included (at least two)")
    .action(
      withClient(cli, async (client, _args, o) => {
        const id = await client.registerFusionOutput(o.owner as string[]);
        cli.print(id, { data_id: id });
      }),
    );

  clientOptions(data.command("from-output <output-id>"))
    .description("make a produced output usable as an input; prints the input id")
    .action(
      withClient(cli, async (client, [id]) => {
        const inputId = await client.registerInputFromOutput(id!);
        cli.print(inputId, { data_id: inputId, output_id: id });
      }),
    );
}
