package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"connectrpc.com/connect"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
)

const completionHelp = `Prints a completion script for bash, zsh or fish. It completes the commands,
their flags, and the PR numbers of the testing set (asked from the server named by
TESTINGCTL_SERVER) for remove, restore, enable, disable, pull-latest, unstage and
refresh.

  bash:  echo 'source <(testingctl completion bash)' >> ~/.bashrc
         (or: testingctl completion bash > ~/.local/share/bash-completion/completions/testingctl)
  zsh:   testingctl completion zsh > "${fpath[1]}/_testingctl"   (then start a new shell)
         (or, after compinit in ~/.zshrc: source <(testingctl completion zsh))
  fish:  testingctl completion fish > ~/.config/fish/completions/testingctl.fish`

func runCompletion(_ context.Context, a *app, _ *options, args []string) error {
	switch args[0] {
	case "bash":
		writeBash(a.out)
	case "zsh":
		writeZsh(a.out)
	case "fish":
		writeFish(a.out)
	default:
		return usageErrorf("completion: unknown shell %q: use bash, zsh or fish", args[0])
	}
	return nil
}

// runComplete is the hidden helper the scripts call: "__complete prs" prints the PR
// numbers of the set, each with its title after a tab. It is quick and silent: a
// completion must never hang a shell or spill errors into it.
func runComplete(ctx context.Context, a *app, _ *options, args []string) error {
	if len(args) != 1 || args[0] != "prs" {
		return usageErrorf("__complete prs")
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	res, err := a.client.GetStatus(ctx, connect.NewRequest(&testingv1.GetStatusRequest{}))
	if err != nil {
		return err
	}
	for _, p := range res.Msg.Prs {
		fmt.Fprintf(a.out, "%d\t%s\n", p.Number, oneLine(clip(p.Title, 60)))
	}
	return nil
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// commandFlags lists a command's own flags.
func commandFlags(c *command) []*flag.Flag {
	if c.flags == nil {
		return nil
	}
	fs := newFlagSet(c.name)
	var o options
	c.flags(fs, &o)
	var out []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) { out = append(out, f) })
	return out
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

func visible() []*command {
	var out []*command
	for _, c := range commands {
		if !c.hidden {
			out = append(out, c)
		}
	}
	return out
}

func numberCommands() []string {
	var out []string
	for _, c := range commands {
		if c.numbers {
			out = append(out, c.name)
		}
	}
	return out
}

func commandNames() []string {
	var out []string
	for _, c := range visible() {
		out = append(out, c.name)
	}
	return out
}

// quote makes s one single-quoted shell word.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// zshDesc makes s safe inside an _arguments or _describe description.
func zshDesc(s string) string {
	return strings.NewReplacer(":", " -", "[", "(", "]", ")", "'", "’").Replace(s)
}

func writeBash(w io.Writer) {
	fmt.Fprintf(w, `# bash completion for testingctl
# Load it with: source <(testingctl completion bash)
_testingctl() {
    local cur prev cmd i
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    cmd=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${COMP_WORDS[i]}" in
            --server|--protocol|--timeout|--expected-version|--pr|--limit|--page-token) ((i++)) ;;
            -*) ;;
            *) cmd="${COMP_WORDS[i]}"; break ;;
        esac
    done
    case "$prev" in
        --protocol) COMPREPLY=($(compgen -W "connect grpc" -- "$cur")); return ;;
        --pr) COMPREPLY=($(compgen -W "$(testingctl __complete prs 2>/dev/null | cut -f1)" -- "$cur")); return ;;
        --server|--timeout|--expected-version|--limit|--page-token) return ;;
    esac
    local global="--server --protocol --json --timeout"
    if [[ -z "$cmd" ]]; then
        if [[ "$cur" == -* ]]; then
            COMPREPLY=($(compgen -W "$global --help" -- "$cur"))
        else
            COMPREPLY=($(compgen -W %s -- "$cur"))
        fi
        return
    fi
    local flags="$global --help"
    case "$cmd" in
`, quote(strings.Join(commandNames(), " ")))
	for _, c := range visible() {
		var names []string
		for _, f := range commandFlags(c) {
			names = append(names, "--"+f.Name)
		}
		if len(names) > 0 {
			fmt.Fprintf(w, "        %s) flags+=%s ;;\n", c.name, quote(" "+strings.Join(names, " ")))
		}
	}
	fmt.Fprintf(w, `    esac
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$flags" -- "$cur"))
        return
    fi
    case "$cmd" in
        %s) COMPREPLY=($(compgen -W "$(testingctl __complete prs 2>/dev/null | cut -f1)" -- "$cur")) ;;
        completion) COMPREPLY=($(compgen -W "bash zsh fish" -- "$cur")) ;;
        help) COMPREPLY=($(compgen -W %s -- "$cur")) ;;
    esac
}
complete -F _testingctl testingctl
`, strings.Join(numberCommands(), "|"), quote(strings.Join(commandNames(), " ")))
}

func writeZsh(w io.Writer) {
	fmt.Fprint(w, `#compdef testingctl
# zsh completion for testingctl
# Install: testingctl completion zsh > "${fpath[1]}/_testingctl"
# or, after compinit: source <(testingctl completion zsh)
compdef _testingctl testingctl

_testingctl_prs() {
  local -a prs
  prs=(${(f)"$(testingctl __complete prs 2>/dev/null | sed 's/:/ -/g; s/	/:/')"})
  _describe -t prs 'PR' prs
}

_testingctl() {
  local -a commands global
  commands=(
`)
	for _, c := range visible() {
		fmt.Fprintf(w, "    %s\n", quote(c.name+":"+zshDesc(c.summary)))
	}
	fmt.Fprint(w, `  )
  global=(
    '--server[testingd URL with its base path]:url:'
    '--protocol[protocol]:protocol:(connect grpc)'
    '--json[print the response as JSON]'
    '--timeout[how long to wait for an answer]:duration:'
  )
  local curcontext="$curcontext" state line
  _arguments -C $global '1: :->cmd' '*:: :->args'
  case $state in
    cmd) _describe -t commands 'testingctl command' commands ;;
    args)
      case $words[1] in
`)
	for _, c := range visible() {
		var specs []string
		for _, f := range commandFlags(c) {
			_, usage := flag.UnquoteUsage(f)
			spec := "--" + f.Name + "[" + zshDesc(usage) + "]"
			if !isBoolFlag(f) {
				spec += ":" + f.Name + ":"
				if f.Name == "pr" {
					spec += "_testingctl_prs"
				}
			}
			specs = append(specs, quote(spec))
		}
		switch {
		case c.numbers:
			specs = append(specs, quote("*:PR:_testingctl_prs"))
		case c.name == "completion":
			specs = append(specs, quote("1:shell:(bash zsh fish)"))
		case c.name == "help":
			specs = append(specs, quote("1:command:("+strings.Join(commandNames(), " ")+")"))
		case c.name == "add":
			specs = append(specs, quote("*:ref:"))
		}
		fmt.Fprintf(w, "        %s) _arguments $global %s ;;\n", c.name, strings.Join(specs, " "))
	}
	fmt.Fprint(w, `      esac
      ;;
  esac
}

if [ "$funcstack[1]" = "_testingctl" ]; then
  _testingctl "$@"
fi
`)
}

func writeFish(w io.Writer) {
	fmt.Fprint(w, `# fish completion for testingctl
# Install: testingctl completion fish > ~/.config/fish/completions/testingctl.fish
complete -c testingctl -f
complete -c testingctl -l server -x -d 'testingd URL with its base path'
complete -c testingctl -l protocol -x -a 'connect grpc' -d 'protocol'
complete -c testingctl -l json -d 'print the response as JSON'
complete -c testingctl -l timeout -x -d 'how long to wait for an answer'
`)
	for _, c := range visible() {
		fmt.Fprintf(w, "complete -c testingctl -n __fish_use_subcommand -a %s -d %s\n", c.name, quote(c.summary))
	}
	for _, c := range visible() {
		for _, f := range commandFlags(c) {
			arg := ""
			if !isBoolFlag(f) {
				arg = " -x"
				if f.Name == "pr" {
					arg += " -a '(testingctl __complete prs 2>/dev/null)'"
				}
			}
			_, usage := flag.UnquoteUsage(f)
			fmt.Fprintf(w, "complete -c testingctl -n '__fish_seen_subcommand_from %s' -l %s%s -d %s\n", c.name, f.Name, arg, quote(usage))
		}
	}
	fmt.Fprintf(w, "complete -c testingctl -n '__fish_seen_subcommand_from %s' -a '(testingctl __complete prs 2>/dev/null)'\n", strings.Join(numberCommands(), " "))
	fmt.Fprint(w, "complete -c testingctl -n '__fish_seen_subcommand_from completion' -a 'bash zsh fish'\n")
	fmt.Fprintf(w, "complete -c testingctl -n '__fish_seen_subcommand_from help' -a %s\n", quote(strings.Join(commandNames(), " ")))
}
