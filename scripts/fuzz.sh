#!/usr/bin/env bash
# fuzz.sh: run every fuzz target of the repository for a while (FUZZTIME, default 2m
# each), keep what the fuzzer found, and write docs/reliability/fuzz.md.
#
# - A crasher makes `go test -fuzz` fail and write the input under the target's
#   testdata/fuzz/<Target>/: it is then a regression test of every `go test` run.
#   This script reports it and goes on with the other targets; fix the bug, keep
#   the file.
# - Besides the seeds in the code (f.Add), each target keeps a seed corpus under
#   testdata/fuzz/<Target>/: up to $KEEP inputs the fuzzer found interesting
#   (new coverage), copied from Go's fuzz cache, so later runs and other machines
#   start from there and `go test` runs them every time.
#
# Usage: scripts/fuzz.sh [-run REGEXP]   (FUZZTIME=30s scripts/fuzz.sh for a quick pass)
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime="${FUZZTIME:-2m}"
keep="${KEEP:-20}"
filter='.'
if [ "${1:-}" = "-run" ]; then filter="$2"; fi

cache="$(go env GOCACHE)/fuzz"
module="$(go list -m)"
out=docs/reliability/fuzz.md
mkdir -p docs/reliability
rows=()
failed=0
while IFS=: read -r file name; do
	dir="$(dirname "$file")"
	pkg="./$dir"
	[[ "$name" =~ $filter ]] || continue
	echo "fuzz: $pkg $name for $fuzztime" >&2
	log="$(mktemp)"
	status=ok
	if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" >"$log" 2>&1; then
		status="**crasher** (kept under \`$dir/testdata/fuzz/$name/\`)"
		failed=1
		tail -20 "$log" >&2
	fi
	last="$(grep -E '^fuzz: elapsed' "$log" | tail -1 || true)"
	execs="$(sed -nE 's/.*execs: ([0-9]+).*/\1/p' <<<"$last")"
	found="$(sed -nE 's/.*new interesting: ([0-9]+) \(total: ([0-9]+)\).*/\1 new, \2 in the corpus/p' <<<"$last")"
	rm -f "$log"
	# The seed corpus: the smallest interesting inputs of the cache, at most $keep.
	src="$cache/$module/${dir}/$name"
	dst="$dir/testdata/fuzz/$name"
	kept=0
	if [ -d "$src" ]; then
		mkdir -p "$dst"
		while read -r f; do
			cp "$f" "$dst/$(basename "$f")"
			kept=$((kept + 1))
		done < <(find "$src" -type f -size -16k -printf '%s %p\n' | sort -n | head -n "$keep" | cut -d' ' -f2-)
	fi
	total="$(find "$dst" -type f 2>/dev/null | wc -l)"
	rows+=("| \`$name\` | \`$dir\` | $fuzztime | ${execs:-?} | ${found:-?} | $total | $status |")
done < <(grep -rHoE '^func (Fuzz[A-Za-z0-9_]+)' --include='*_test.go' . | sed -E 's#^\./##; s#:func #:#' | sort)

{
	echo "# Fuzzing"
	echo
	echo "Every parser of outside input has a fuzz target (\`go test -fuzz\`): the state file, the build transcript, the audit trail, PR references, GitHub's pull JSON, listing, comparison and rate-limit headers (\`FuzzClientAnswers\` feeds arbitrary answers to the real client), webhook payloads and signatures, Open Library's cookies, usergroups, feature flags and token file, Jenkins' runs, the legacy drift cache (codec and JSON), and git's output as the deploy prediction reads it (\`merge-tree\` single and batched, \`cat-file --batch-check\`, \`for-each-ref\`, \`git --version\`). Each keeps a seed corpus in its package's \`testdata/fuzz/<Target>/\` (plus the seeds written in the code), which \`go test\` runs every time; a crasher found here would be kept there as a regression test."
	echo
	echo "Written by \`scripts/fuzz.sh\` (FUZZTIME=$fuzztime per target, $(nproc) cores, $(go version | cut -d' ' -f3)); the machine was shared with other work while it ran, so exec counts are lower bounds."
	echo
	echo "| target | package | time | execs | corpus growth | seed corpus files in testdata | result |"
	echo "|---|---|---|---:|---|---:|---|"
	printf '%s\n' "${rows[@]}"
} >"$out"
echo "fuzz: wrote $out" >&2
exit "$failed"
