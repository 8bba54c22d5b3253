package deploy

import (
	"bufio"
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

// root is the repository, seen from this package's directory.
const root = ".."

// Stamped by the test build through the Dockerfile's own -X flags.
const (
	testVersion  = "v0.0.0-deploytest"
	testRevision = "0123456789abcdef0123456789abcdef01234567"
)

var scratch string // removed by TestMain

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "deploytest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	scratch = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// logicalLines joins lines ending in a backslash (Dockerfile and systemd
// continuations) and drops comments and blank lines.
func logicalLines(text string) []string {
	var out []string
	var cur strings.Builder
	for line := range strings.Lines(text) {
		line = strings.TrimRight(line, "\r\n")
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#") || strings.HasPrefix(trimmed, ";")) {
			continue
		}
		if cont, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(cont)
			cur.WriteByte(' ')
			continue
		}
		cur.WriteString(line)
		out = append(out, strings.TrimSpace(cur.String()))
		cur.Reset()
	}
	return out
}

// shellWords splits a command line as a POSIX shell would for the simple cases
// the Dockerfile uses: blanks, single and double quotes, ${VAR} and $VAR
// expanded from vars (and an error for any variable not in vars).
func shellWords(s string, vars map[string]string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	expand := func(i int) (int, error) { // s[i] == '$'
		rest := s[i+1:]
		var name string
		var n int
		if strings.HasPrefix(rest, "{") {
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				return 0, errors.New("unclosed ${")
			}
			name, n = rest[1:end], end+1
		} else {
			m := regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*`).FindString(rest)
			name, n = m, len(m)
		}
		v, ok := vars[name]
		if !ok {
			return 0, fmt.Errorf("variable %q has no test value", name)
		}
		cur.WriteString(v)
		inWord = true
		return i + n, nil
	}
	for i := 0; i < len(s); i++ {
		c := rune(s[i])
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				cur.WriteRune(c)
			}
		case c == '$':
			j, err := expand(i)
			if err != nil {
				return nil, err
			}
			i = j
		case quote == '"':
			if c == '"' {
				quote = 0
			} else {
				cur.WriteRune(c)
			}
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, errors.New("unclosed quote")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// dockerBuild is the Dockerfile's `go build` RUN instruction, taken apart.
type dockerBuild struct {
	env    []string // NAME=value assignments before `go`
	args   []string // after `go build`, -o's value replaced by out
	output string   // the -o path in the Dockerfile
}

func parseDockerBuild(dockerfile string, vars map[string]string, out string) (dockerBuild, error) {
	var found []string
	for _, l := range logicalLines(dockerfile) {
		if strings.HasPrefix(l, "RUN ") && strings.Contains(l, " go build ") {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		return dockerBuild{}, fmt.Errorf("want one RUN … go build instruction, found %d", len(found))
	}
	words, err := shellWords(strings.TrimPrefix(found[0], "RUN "), vars)
	if err != nil {
		return dockerBuild{}, err
	}
	for len(words) > 0 && strings.HasPrefix(words[0], "--mount=") {
		words = words[1:] // BuildKit cache mounts: nothing to run here
	}
	var b dockerBuild
	for len(words) > 0 && regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=`).MatchString(words[0]) {
		b.env = append(b.env, words[0])
		words = words[1:]
	}
	if len(words) < 2 || words[0] != "go" || words[1] != "build" {
		return dockerBuild{}, fmt.Errorf("the RUN instruction is not [VAR=value…] go build …: %q", words)
	}
	if slices.ContainsFunc(words, func(w string) bool { return w == "&&" || w == ";" || w == "|" }) {
		return dockerBuild{}, errors.New("the go build RUN instruction runs more than one command; keep it one command so this test runs exactly it")
	}
	b.args = words[2:]
	i := slices.Index(b.args, "-o")
	if i < 0 || i+1 >= len(b.args) {
		return dockerBuild{}, errors.New("go build has no -o PATH")
	}
	b.output = b.args[i+1]
	b.args = slices.Clone(b.args)
	b.args[i+1] = out
	return b, nil
}

// built runs the Dockerfile's go build line once for every test that needs the binary.
var built = sync.OnceValues(func() (string, error) {
	out := filepath.Join(scratch, "testingd")
	b, err := parseDockerBuild(readFile("Dockerfile"), map[string]string{
		"TARGETOS": runtime.GOOS, "TARGETARCH": runtime.GOARCH,
		"VERSION": testVersion, "REVISION": testRevision,
	}, out)
	if err != nil {
		return "", fmt.Errorf("Dockerfile: %w", err)
	}
	cmd := exec.Command("go", append([]string{"build"}, b.args...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), b.env...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s: %v\n%s", cmd, err, msg)
	}
	return out, nil
})

func readFile(name string) string {
	b, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		return ""
	}
	return string(b)
}

func binary(t *testing.T) string {
	t.Helper()
	bin, err := built()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// flags are the long names testingd -h lists, from the binary itself.
var flagLine = regexp.MustCompile(`(?m)^  --([a-z0-9][a-z0-9-]*)\b.*\[(TESTINGD_[A-Z0-9_]+)\]$`)

func flags(t *testing.T) map[string]string {
	t.Helper()
	out, err := exec.Command(binary(t), "-h").Output()
	if err != nil {
		t.Fatalf("testingd -h: %v", err)
	}
	m := map[string]string{}
	for _, sm := range flagLine.FindAllStringSubmatch(string(out), -1) {
		m[sm[1]] = sm[2]
	}
	if len(m) < 20 {
		t.Fatalf("testingd -h listed %d flags; has its format changed?\n%s", len(m), out)
	}
	return m
}

func TestDockerfileBuildsAStaticBinary(t *testing.T) {
	t.Parallel()
	df := read(t, "Dockerfile")
	b, err := parseDockerBuild(df, map[string]string{"TARGETOS": "linux", "TARGETARCH": "amd64", "VERSION": "v", "REVISION": "r"}, "OUT")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(b.env, "CGO_ENABLED=0") {
		t.Errorf("the go build line does not set CGO_ENABLED=0: %q", b.env)
	}
	if !slices.Contains(b.args, "-trimpath") {
		t.Errorf("the go build line has no -trimpath: %q", b.args)
	}
	if !slices.Contains(b.args, "./cmd/testingd") {
		t.Errorf("the go build line does not build ./cmd/testingd: %q", b.args)
	}

	bin := binary(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("%s is not ELF (this test runs on Linux): %v", bin, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has an ELF interpreter (PT_INTERP): it is dynamically linked")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %q", libs)
	}

	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
		t.Errorf("build settings CGO_ENABLED=%q -trimpath=%q, want 0 and true", settings["CGO_ENABLED"], settings["-trimpath"])
	}
	if info.Path != "github.com/internetarchive/testingd/cmd/testingd" {
		t.Errorf("main package %q", info.Path)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{testVersion, testRevision} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("the build arguments did not reach the binary: %q is not in it (the -X main.version/main.revision flags)", want)
		}
	}
}

// stage is one FROM … section of the Dockerfile.
type stage struct {
	name, from string
	lines      []string
}

func stages(df string) []stage {
	var out []stage
	for _, l := range logicalLines(df) {
		if fields := strings.Fields(l); len(fields) > 0 && strings.EqualFold(fields[0], "FROM") {
			s := stage{}
			for i := 1; i < len(fields); i++ {
				switch {
				case strings.HasPrefix(fields[i], "--"):
				case strings.EqualFold(fields[i], "AS") && i+1 < len(fields):
					s.name = fields[i+1]
					i++
				default:
					s.from = fields[i]
				}
			}
			out = append(out, s)
			continue
		}
		if len(out) > 0 {
			out[len(out)-1].lines = append(out[len(out)-1].lines, l)
		}
	}
	return out
}

func TestDockerfileStages(t *testing.T) {
	t.Parallel()
	df := read(t, "Dockerfile")
	ss := stages(df)
	if len(ss) < 2 {
		t.Fatalf("want a multi-stage build, found %d stages", len(ss))
	}
	if !strings.HasPrefix(ss[0].from, "golang:") {
		t.Errorf("the first stage builds from %q, want a golang image", ss[0].from)
	}
	for _, s := range ss[1:] {
		var user string
		var copiesBinary bool
		for _, l := range s.lines {
			if u, ok := strings.CutPrefix(l, "USER "); ok {
				user = strings.TrimSpace(u)
			}
			if strings.HasPrefix(l, "COPY --from="+ss[0].name+" ") {
				copiesBinary = true
			}
		}
		uid, _, _ := strings.Cut(user, ":")
		if uid == "" || uid == "0" || uid == "root" {
			t.Errorf("stage %s runs as %q; want a non-root USER", s.name, user)
		}
		if !copiesBinary {
			t.Errorf("stage %s does not COPY --from=%s the binary", s.name, ss[0].name)
		}
		for _, l := range s.lines {
			if strings.Contains(l, " go ") || strings.Contains(l, "golang") {
				t.Errorf("stage %s has Go in it: %q", s.name, l)
			}
		}
	}
	// The UI bundle is committed: the image is built without Node.
	for _, l := range logicalLines(df) {
		if regexp.MustCompile(`\b(npm|npx|node|yarn)\b`).MatchString(l) {
			t.Errorf("the Dockerfile runs Node tooling: %q", l)
		}
	}
}

// dockerignore is a small .dockerignore matcher: patterns in order, later ones
// win, "!" re-includes, a pattern matching a directory excludes what is under it,
// and "**/" at the start matches any depth. (Docker's own matcher does more; the
// .dockerignore uses no more than this.)
type dockerignore []ignoreRule

type ignoreRule struct {
	pattern string
	negate  bool
}

func parseDockerignore(text string) dockerignore {
	var d dockerignore
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		neg := strings.HasPrefix(line, "!")
		d = append(d, ignoreRule{path.Clean(strings.TrimPrefix(strings.TrimPrefix(line, "!"), "/")), neg})
	}
	return d
}

func (d dockerignore) excludes(name string) bool {
	excluded := false
	for _, r := range d {
		if r.matches(name) {
			excluded = !r.negate
		}
	}
	return excluded
}

// matches reports whether the pattern matches name or one of its parent
// directories (from the root, or at any depth after "**/").
func (r ignoreRule) matches(name string) bool {
	pat, anyDepth := strings.CutPrefix(r.pattern, "**/")
	parts := strings.Split(name, "/")
	for i := range parts {
		if i > 0 && !anyDepth {
			break
		}
		for j := i + 1; j <= len(parts); j++ {
			if ok, _ := path.Match(pat, strings.Join(parts[i:j], "/")); ok {
				return true
			}
		}
	}
	return false
}

func TestDockerignoreKeepsTheBuildInputs(t *testing.T) {
	t.Parallel()
	ignore := parseDockerignore(read(t, ".dockerignore"))
	cmd := exec.Command("go", "list", "-deps", "-json", "./cmd/testingd")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	needed := []string{"go.mod", "go.sum"}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			Dir                                 string
			Module                              *struct{ Main bool }
			GoFiles, IgnoredGoFiles, EmbedFiles []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if p.Module == nil || !p.Module.Main {
			continue
		}
		rel, err := filepath.Rel(abs, p.Dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range slices.Concat(p.GoFiles, p.IgnoredGoFiles, p.EmbedFiles) {
			needed = append(needed, filepath.ToSlash(filepath.Join(rel, f)))
		}
	}
	if !slices.ContainsFunc(needed, func(f string) bool { return strings.HasPrefix(f, "webui/dist/") }) {
		t.Fatalf("go list shows no embedded webui/dist file; the check below would prove nothing: %q", needed)
	}
	for _, f := range needed {
		if ignore.excludes(f) {
			t.Errorf(".dockerignore excludes %s, which the image's go build needs", f)
		}
	}
	// And it does keep the heavy and local things out.
	for _, f := range []string{".git/HEAD", "webui/node_modules/lit/package.json", "bin/testingd", "_testing-prs.json", "drift.test"} {
		if !ignore.excludes(f) {
			t.Errorf(".dockerignore lets %s into the build context", f)
		}
	}
}

// docFlagRow is a row of DEPLOY.md's flag table: | `--flag` | `TESTINGD_…` …
var docFlagRow = regexp.MustCompile("^\\| `--([a-z0-9-]+)` \\| `(TESTINGD_[A-Z0-9_]+)`")

func TestDeployDocListsEveryFlag(t *testing.T) {
	t.Parallel()
	real := flags(t)
	doc := map[string]string{}
	for line := range strings.Lines(read(t, "docs/DEPLOY.md")) {
		if m := docFlagRow.FindStringSubmatch(line); m != nil {
			if _, dup := doc[m[1]]; dup {
				t.Errorf("docs/DEPLOY.md lists --%s twice", m[1])
			}
			doc[m[1]] = m[2]
		}
	}
	for name, env := range real {
		switch got, ok := doc[name]; {
		case !ok:
			t.Errorf("docs/DEPLOY.md's flag table lacks --%s (%s): add a row", name, env)
		case got != env:
			t.Errorf("docs/DEPLOY.md gives --%s the variable %s, testingd reads %s", name, got, env)
		}
	}
	for name := range doc {
		if _, ok := real[name]; !ok {
			t.Errorf("docs/DEPLOY.md documents --%s, which testingd does not have", name)
		}
	}
}

// unitExecStart returns the arguments of the unit's ExecStart (after the binary).
func unitExecStart(t *testing.T, unit string) (bin string, args []string) {
	t.Helper()
	var starts []string
	for _, l := range logicalLines(unit) {
		if v, ok := strings.CutPrefix(l, "ExecStart="); ok {
			starts = append(starts, v)
		}
	}
	if len(starts) != 1 {
		t.Fatalf("want one ExecStart=, found %d", len(starts))
	}
	words := strings.Fields(starts[0])
	return words[0], words[1:]
}

func TestSystemdUnitUsesRealFlags(t *testing.T) {
	t.Parallel()
	real := flags(t)
	unit := read(t, "deploy/testingd.service")
	_, args := unitExecStart(t, unit)
	used := map[string]bool{}
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if _, ok := real[name]; !ok {
			t.Errorf("ExecStart uses %s, which is not a testingd flag", a)
		}
		used[name] = true
	}
	for _, want := range []string{"auth", "base-path", "memcache", "state-file", "ol-secret-key-file"} {
		if !used[want] {
			t.Errorf("ExecStart does not set --%s", want)
		}
	}
	if !slices.Contains(args, "openlibrary") || !slices.Contains(args, "/status/v2/") {
		t.Errorf("ExecStart should run --auth openlibrary --base-path /status/v2/: %q", args)
	}
	for _, want := range []string{"NoNewPrivileges=yes", "ProtectSystem=strict", "EnvironmentFile=", "ReadWritePaths=", "User="} {
		if !strings.Contains(unit, "\n"+want) {
			t.Errorf("the unit lacks %s", want)
		}
	}
	if strings.Contains(unit, "\nDynamicUser=yes") {
		t.Error("the unit uses DynamicUser: the files it writes need a stable owner")
	}
}

func TestEnvironmentFileNamesRealVariables(t *testing.T) {
	t.Parallel()
	real := flags(t)
	known := map[string]bool{"GITHUB_TOKEN": true}
	for _, env := range real {
		known[env] = true
	}
	sc := bufio.NewScanner(strings.NewReader(read(t, "deploy/testingd.env.example")))
	n := 0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, ok := strings.Cut(line, "=")
		if !ok || !known[name] {
			t.Errorf("deploy/testingd.env.example sets %q, which testingd does not read", line)
		}
		n++
	}
	if n == 0 {
		t.Error("deploy/testingd.env.example sets nothing")
	}
}

// systemd-analyze verify parses the unit as systemd would and warns about what
// it does not understand. It needs the ExecStart binary to exist, so the unit is
// checked with the path of the binary built here.
func TestSystemdAnalyzeVerify(t *testing.T) {
	t.Parallel()
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	unit := read(t, "deploy/testingd.service")
	bin, _ := unitExecStart(t, unit)
	unit = strings.Replace(unit, "ExecStart="+bin, "ExecStart="+binary(t), 1)
	dir := t.TempDir()
	p := filepath.Join(dir, "testingd.service")
	if err := os.WriteFile(p, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sa, "verify", p)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	// Warnings about the unit itself name its file; anything else (no D-Bus, no
	// systemd running in a container) is about this machine.
	var problems []string
	for line := range strings.Lines(stderr.String()) {
		if strings.Contains(line, "testingd.service") {
			problems = append(problems, strings.TrimSpace(line))
		}
	}
	if len(problems) > 0 || (err != nil && stderr.Len() == 0) {
		t.Errorf("systemd-analyze verify: %v\n%s", err, strings.Join(problems, "\n"))
	} else if err != nil {
		t.Skipf("systemd-analyze verify cannot run here: %v\n%s", err, stderr.String())
	}
}

// nginx -t (1.19.5 or later, for -e) on a minimal main configuration that includes deploy/nginx.conf in its
// http{} block, as the site's configuration does. nginx is not installed for this
// test: it is skipped where there is none.
func TestNginxConfig(t *testing.T) {
	t.Parallel()
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		t.Skip("nginx is not installed")
	}
	conf, err := filepath.Abs(filepath.Join(root, "deploy", "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	main := fmt.Sprintf(`pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events {}
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[2]s;
}
`, dir, conf)
	p := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(p, []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(nginx, "-t", "-e", filepath.Join(dir, "startup.log"), "-p", dir, "-c", p).CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
}
