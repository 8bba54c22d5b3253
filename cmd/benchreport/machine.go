package main

import (
	"bufio"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
)

// machine is where the figures were measured.
type machine struct {
	cpu        string
	cores      int
	gomaxprocs int
	goVersion  string
	osArch     string
	revision   string // short HEAD, "+ uncommitted changes" when the tree is dirty
}

func machineFacts() machine {
	m := machine{
		cpu:        cpuModel(),
		cores:      runtime.NumCPU(),
		gomaxprocs: runtime.GOMAXPROCS(0),
		goVersion:  runtime.Version(),
		osArch:     runtime.GOOS + "/" + runtime.GOARCH,
		revision:   "unknown",
	}
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		m.revision = strings.TrimSpace(string(out))
		if dirs := changedDirs(); len(dirs) > 0 {
			m.revision += " + uncommitted changes in " + strings.Join(dirs, ", ")
		}
	}
	return m
}

// ownPaths are the benchmark's own files: uncommitted while it first runs.
var ownPaths = []string{"cmd/benchreport/", "cmd/loadgen/", "internal/load/", "scripts/bench.sh", "docs/BENCHMARKS.md"}

// changedDirs are the directories holding uncommitted changes (new files included)
// other than the benchmark's own, so the report says what code it measured.
func changedDirs() []string {
	out, err := exec.Command("git", "status", "--porcelain", "--untracked-files=all").Output()
	if err != nil {
		return nil
	}
	var dirs []string
	seen := map[string]bool{}
	for line := range strings.Lines(string(out)) {
		if len(line) < 4 {
			continue
		}
		path := strings.TrimSpace(line[3:])
		if _, to, ok := strings.Cut(path, " -> "); ok {
			path = to
		}
		own := false
		for _, p := range ownPaths {
			own = own || strings.HasPrefix(path, p)
		}
		dir := "."
		if i := strings.LastIndexByte(path, '/'); i >= 0 {
			dir = path[:i]
		}
		if !own && !seen[dir] {
			seen[dir] = true
			dirs = append(dirs, dir)
		}
	}
	slices.Sort(dirs)
	return dirs
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown (" + runtime.GOARCH + ")"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
