import type { Command } from "commander";
import { role } from "../args.js";
import { listFormat, table } from "../format.js";
import { resolvePassword } from "../password.js";
import {
  type Cli,
  clientFlags,
  clientOptions,
  deleteSession,
  openClient,
  saveSession,
  withClient,
} from "./client.js";

/** Own password (login): --password, CLOISTER_PASSWORD, or a prompt. */
const ownPassword = (flag: string | undefined, id: string) =>
  resolvePassword({ flag, envName: "CLOISTER_PASSWORD", prompt: `Password for ${id}: ` });

/**
 * A password being set (register, update, passwd): --password, CLOISTER_NEW_PASSWORD, or a
 * prompt asked twice. Deliberately not CLOISTER_PASSWORD, which holds the caller's own password
 * and must not silently become someone else's.
 */
const newPassword = (flag: string | undefined, whose: string) =>
  resolvePassword({
    flag,
    envName: "CLOISTER_NEW_PASSWORD",
    prompt: `New password for ${whose}: `,
    confirm: true,
  });

export function userCommands(program: Command, cli: Cli): void {
  const user = program.command("user").description("users and sessions (authentication API)");

  clientOptions(user.command("login <id>"))
    .description("log in and save the session for later commands")
    .option("--password <password>", "password (default: $CLOISTER_PASSWORD, else prompt)")
    .action(async (id: string, o: Record<string, unknown>, cmd: Command) => {
      const flags = clientFlags(cli, o, cmd);
      const password = await ownPassword(o.password as string | undefined, id);
      const client = openClient(flags, false);
      try {
        const token = await client.login(id, password);
        const saved = saveSession(flags, { id, token });
        cli.print(
          saved.context
            ? `logged in as ${id} (context ${saved.context}, saved in ${saved.where})`
            : `logged in as ${id} (session saved in ${saved.where})`,
          { id, session: saved.where, ...(saved.context ? { context: saved.context } : {}) },
        );
      } finally {
        client.close();
      }
    });

  user
    .command("logout")
    .description("forget the saved login (the token itself stays valid until it expires)")
    .option("--session <file>", "the session file to remove (default: the current context's login)")
    .action((o: { session?: string }) => {
      const context = cli.contextName();
      const { where, existed } = deleteSession({ ...o, ...(context !== undefined ? { context } : {}) });
      cli.print(existed ? `logged out (removed the login from ${where})` : `not logged in (${where})`, {
        session: where,
        removed: existed,
      });
    });

  clientOptions(user.command("register <id>"))
    .description(
      "create a user (a PlatformAdmin creates anyone; a DataOwnerManager creates DataOwners of its group; see docs/contract.md)",
    )
    .option("--password <password>", "the new user's password (default: $CLOISTER_NEW_PASSWORD, else prompt)")
    .requiredOption("--role <role>", "PlatformAdmin, FunctionOwner, DataOwnerManager or DataOwner")
    .option("--attribute <group>", "data owner group (DataOwner, DataOwnerManager)", "")
    .action(
      withClient(cli, async (client, [id], o) => {
        const r = role(o.role as string);
        const password = await newPassword(o.password as string | undefined, id!);
        await client.registerUser(id!, password, r, o.attribute as string);
        cli.print(`registered ${id} as ${r}${o.attribute ? ` (${o.attribute})` : ""}`, {
          id,
          role: r,
          attribute: o.attribute,
        });
      }),
    );

  clientOptions(user.command("update <id>"))
    .description("replace a user's password and role (the role applies at its next login)")
    .option("--password <password>", "new password (default: $CLOISTER_NEW_PASSWORD, else prompt)")
    .requiredOption("--role <role>", "PlatformAdmin, FunctionOwner, DataOwnerManager or DataOwner")
    .option("--attribute <group>", "data owner group", "")
    .action(
      withClient(cli, async (client, [id], o) => {
        const r = role(o.role as string);
        const password = await newPassword(o.password as string | undefined, id!);
        await client.updateUser(id!, password, r, o.attribute as string);
        cli.print(`updated ${id}: ${r}${o.attribute ? ` (${o.attribute})` : ""}`, {
          id,
          role: r,
          attribute: o.attribute,
        });
      }),
    );

  clientOptions(user.command("passwd"))
    .description("change your own password")
    .option("--password <password>", "new password (default: $CLOISTER_NEW_PASSWORD, else prompt)")
    .action(
      withClient(cli, async (client, _args, o) => {
        const id = client.session!.id;
        await client.changePassword(await newPassword(o.password as string | undefined, id));
        cli.print(`password of ${id} changed`, { id });
      }),
    );

  clientOptions(user.command("reset-password <id>"))
    .description("give a user a new random password and print it")
    .action(
      withClient(cli, async (client, [id]) => {
        const password = await client.resetUserPassword(id!);
        cli.print(`new password for ${id}: ${password}`, { id, password });
      }),
    );

  clientOptions(user.command("delete <id>"))
    .description("delete a user (its tokens stop working)")
    .action(
      withClient(cli, async (client, [id]) => {
        await client.deleteUser(id!);
        cli.print(`deleted ${id}`, { id });
      }),
    );

  clientOptions(user.command("list"))
    .description("users you manage (a DataOwnerManager passes its group with --group)")
    .option("--group <attribute>", "for a DataOwnerManager: its group attribute (default: your user id)")
    .option("-o, --format <format>", "table (default), wide or json")
    .action(
      withClient(cli, async (client, _args, o) => {
        const format = listFormat(o.format as string | undefined, cli.json());
        const ids = await client.listUsers(o.group as string | undefined);
        if (format === "json") return console.log(JSON.stringify({ ids }, null, 2));
        // The platform lists ids only; wide has nothing more to show.
        console.log(
          table(
            ["USER"],
            ids.map((id) => [id]),
          ),
        );
      }),
    );
}
