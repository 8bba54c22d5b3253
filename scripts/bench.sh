#!/usr/bin/env bash
# bench.sh: the measurements behind docs/BENCHMARKS.md (`make bench`).
#
# Builds testingd, cmd/loadgen and cmd/benchreport, runs the `go test -bench`
# micro-benchmarks, then benchreport, which measures the whole scenario in one run
# against a fake GitHub with 100 ms per request (a 3-minute soak of the testingd binary
# included; -soak 0 skips it) and writes docs/BENCHMARKS.md and its SVG plots in docs/plots/.
# Needs no network beyond the Go module cache; uses memcached when it is installed.
# Takes several minutes; nothing in it fails on a slow figure.
#
# Extra arguments go to benchreport, e.g. scripts/bench.sh -o /tmp/b.md -sizes 10,50.
set -euo pipefail
cd "$(dirname "$0")/.."

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "bench: building" >&2
go build -o "$tmp/testingd" ./cmd/testingd
go build -o "$tmp/loadgen" ./cmd/loadgen # not run here (benchreport shares its internal/load); built so it cannot rot
go build -o "$tmp/benchreport" ./cmd/benchreport

# The memcached benchmark needs memcached (make deps installs it); without it,
# only the benchmarks that need it are skipped, and the report says memcached was not found.
# Issue 5's two measurements (service/economy_bench_test.go) run on lines of their
# own below, each for a set count, and need memcached too.
skip='BenchmarkGitHubEconomy|BenchmarkWebhookToWatcher'
memcached=yes
if ! command -v memcached >/dev/null; then
	echo "bench: memcached not installed: skipping BenchmarkMemcachedGetMulti, BenchmarkGitHubEconomy and BenchmarkWebhookToWatcher" >&2
	skip="$skip|BenchmarkMemcachedGetMulti"
	memcached=
fi
gobench=(go test -run '^$' -bench . -benchmem -skip "$skip" ./persistence/ ./service/drift/ ./integrations/memcache/ ./service/)
echo "bench: ${gobench[*]}" >&2
"${gobench[@]}" | tee "$tmp/gobench.txt" >&2
if [ -n "$memcached" ]; then
	# One iteration of BenchmarkGitHubEconomy is the whole measurement (a simulated
	# hour, a minute of real time); one of BenchmarkWebhookToWatcher is one push.
	for spec in BenchmarkGitHubEconomy:1x BenchmarkWebhookToWatcher:200x; do
		line=(go test -run '^$' -bench "^${spec%%:*}\$" -benchtime "${spec#*:}" ./service/)
		echo "bench: ${line[*]}" >&2
		"${line[@]}" | tee -a "$tmp/gobench.txt" >&2
	done
fi

# Issue 8's deploy prediction: real git on a generated repository of 3,000 files and
# 2,000 commits (built once, a few seconds), 5 iterations each.
line=(go test -run '^$' -bench 'BenchmarkPredict20|BenchmarkPairwise20|BenchmarkDeployScript20' -benchtime 5x ./integrations/gitmirror/)
echo "bench: ${line[*]}" >&2
"${line[@]}" | tee -a "$tmp/gobench.txt" >&2

command="./scripts/bench.sh${*:+ $*}"
if [ -n "${MAKELEVEL:-}" ]; then
	command="make bench (./scripts/bench.sh${*:+ $*})"
fi
# The web UI's figures (bundle size, navigation to the table in headless Chromium)
# come from its own script, which writes docs/ui-benchmarks.md; benchreport includes it.
echo "bench: npm run bench --prefix webui" >&2
npm run bench --prefix webui >&2

echo "bench: benchreport" >&2
"$tmp/benchreport" -o docs/BENCHMARKS.md -gobench "$tmp/gobench.txt" -include docs/ui-benchmarks.md -testingd "$tmp/testingd" -command "$command" "$@"
echo "bench: wrote docs/BENCHMARKS.md and docs/plots/" >&2
