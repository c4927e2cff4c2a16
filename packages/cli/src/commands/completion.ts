import type { Command } from "commander";
import { UsageError } from "../args.js";
import type { Cli } from "./client.js";

interface Node {
  path: string;
  subcommands: string[];
  options: string[];
}

function walk(cmd: Command, path: string[], out: Node[], inherited: string[]): void {
  const own = cmd.options.flatMap((o) => [o.long, o.short].filter((x): x is string => !!x));
  const options = [...new Set([...inherited, ...own, "--help"])];
  out.push({ path: path.join(" "), subcommands: cmd.commands.map((c) => c.name()), options });
  for (const c of cmd.commands) walk(c, [...path, c.name()], out, path.length === 0 ? own : inherited);
}

/** A bash completion script for the command tree as it is defined (so it never falls behind). */
export function bashCompletion(program: Command): string {
  const nodes: Node[] = [];
  walk(program, [], nodes, []);
  const cases = nodes
    .map((n) => `    "${n.path}") subs="${n.subcommands.join(" ")}"; opts="${n.options.join(" ")}" ;;`)
    .join("\n");
  return `# bash completion for cloister: eval "$(cloister completion bash)" (or save it under
# /etc/bash_completion.d/cloister or ~/.local/share/bash-completion/completions/cloister)
_cloister() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" subs opts i w
  _cloister_node() {
    case "$1" in
${cases}
    *) subs=""; opts="" ;;
    esac
  }
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    [[ "$w" == -* ]] && continue
    _cloister_node "$path"
    if [[ " $subs " == *" $w "* ]]; then path="\${path:+$path }$w"; fi
  done
  _cloister_node "$path"
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$subs" -- "$cur"))
    [[ \${#COMPREPLY[@]} -eq 0 ]] && COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -F _cloister cloister
`;
}

export function completionCommand(program: Command, _cli: Cli): void {
  program
    .command("completion <shell>")
    .description('print a shell completion script: eval "$(cloister completion bash)"')
    .action((shell: string) => {
      if (shell !== "bash")
        throw new UsageError(`completion: only bash is supported, got ${JSON.stringify(shell)}`);
      process.stdout.write(bashCompletion(program));
    });
}
