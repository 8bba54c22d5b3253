// Command e2eserver runs the real testingd binary against fake GitHub and Jenkins
// (internal/fakegithub, internal/fakejenkins) with a realistic testing set, for the
// web UI's end-to-end tests, screenshots and benchmark (webui/e2e/, webui/scripts/).
//
//	go build -o bin/testingd ./cmd/testingd
//	go run ./internal/e2eserver -testingd bin/testingd [-prs 50 | -git]
//
// With -git it runs the deploy prediction's world instead (gitWorld): a real upstream
// repository made with internal/gittest, in which two queued PRs conflict with each
// other and one with master, and its bare mirror as testingd's --git-dir.
//
// It writes the state file and a build transcript into a temporary directory, starts
// the fakes and the testingd binary (--listen 127.0.0.1:0, dev auth, a Jenkins token),
// and prints one JSON line on stdout when testingd is listening:
//
//	{"url": "http://127.0.0.1:P/", "github": "...", "jenkins": "...", "control": "http://127.0.0.1:C/", "pid": N}
//
// The control server (loopback only) lets a test drive the world:
//
//	GET  /triggers            the Jenkins triggers received, as JSON
//	POST /jenkins?status=S    Jenkins' latest run becomes a new run #N in status S
//	                          (IN_PROGRESS, SUCCESS, FAILURE…), started now
//	POST /stop                stops testingd (SIGTERM, then waits for it to exit)
//	POST /start               starts it again on the same address, with the same files
//	GET  /healthz             "ok"
//
// It stops testingd and the fakes and removes its directory when its standard input
// closes (the parent went away), on SIGINT or SIGTERM, or when testingd dies
// unexpectedly (exit status 1).
package main

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/internetarchive/testingd/integrations/jenkins"
	"github.com/internetarchive/testingd/internal/fakegithub"
	"github.com/internetarchive/testingd/internal/fakejenkins"
	"github.com/internetarchive/testingd/internal/gittest"
)

// JenkinsToken is the deploy token testingd is given; the fake refuses any other.
const JenkinsToken = "e2e-jenkins-token"

func main() {
	log.SetFlags(0)
	log.SetPrefix("e2eserver: ")
	binary := flag.String("testingd", "bin/testingd", "the testingd `binary` to run")
	prs := flag.Int("prs", 0, "0 = the realistic 12-PR world; N > 0 = N open PRs in the set (the benchmark's world)")
	listen := flag.String("listen", "127.0.0.1:0", "the `address` testingd listens on")
	control := flag.String("control", "127.0.0.1:0", "the `address` of the control server")
	git := flag.Bool("git", false, "the deploy prediction's world: a real git repository where queued PRs conflict, testingd run with --git-dir (needs git)")
	verbose := flag.Bool("v", false, "copy testingd's log to stderr")
	flag.Parse()
	if *git && *prs > 0 {
		log.Fatal("-git and -prs are different worlds: give one")
	}
	if err := run(*binary, *prs, *git, *listen, *control, *verbose); err != nil {
		log.Fatal(err)
	}
}

func run(binary string, prs int, git bool, listen, controlAddr string, verbose bool) error {
	if _, err := os.Stat(binary); err != nil {
		return fmt.Errorf("-testingd: %w (build it with: go build -o bin/testingd ./cmd/testingd)", err)
	}
	dir, err := os.MkdirTemp("", "testingd-e2e-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	now := time.Now().UTC()
	w := realistic(now)
	var gitArgs []string
	switch {
	case prs > 0:
		w = many(now, prs)
	case git:
		var mirror string
		if w, mirror, err = gitWorld(now, dir); err != nil {
			return err
		}
		gitArgs = []string{"--git-dir", mirror}
	}
	gh := fakegithub.Start(fakegithub.WithPulls(w.pulls...))
	defer gh.Close()
	for _, c := range w.compares {
		gh.SetCompare(c.base, c.head, c.status, c.ahead, c.behind)
	}
	jk := fakejenkins.Start()
	defer jk.Close()
	jk.SetToken(JenkinsToken)
	jk.SetRuns([]jenkins.Run{w.run})

	statePath := filepath.Join(dir, "_testing-prs.json")
	transcriptPath := filepath.Join(dir, "_dev-merged_status.txt")
	if err := os.WriteFile(statePath, w.state, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(transcriptPath, []byte(w.transcript), 0o644); err != nil {
		return err
	}
	// An old mtime, so the page says the build was made at the last deploy.
	_ = os.Chtimes(transcriptPath, w.builtAt, w.builtAt)

	p := &proc{
		binary:  binary,
		verbose: verbose,
		args: append([]string{
			"--auth", "dev",
			"--log-format", "json",
			"--state-file", statePath,
			"--build-status-file", transcriptPath,
			"--github-api-url", gh.URL + "/",
			"--github-token", "e2e-github-token",
			"--jenkins-runs-url", jk.RunsURL(),
			"--jenkins-trigger-url", jk.TriggerURL(),
			"--jenkins-token", JenkinsToken,
			"--shutdown-timeout", "2s",
		}, gitArgs...),
		listen: listen,
	}
	if err := p.start(); err != nil {
		return err
	}
	defer p.stop()

	c := &controller{jk: jk, proc: p, runID: 411}
	ln, err := net.Listen("tcp", controlAddr)
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	srv := &http.Server{Handler: c.routes(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	ready, _ := json.Marshal(map[string]any{
		"url":     "http://" + p.address() + "/",
		"github":  gh.URL,
		"jenkins": jk.URL,
		"control": "http://" + ln.Addr().String() + "/",
		"pid":     p.pid(),
	})
	fmt.Println(string(ready))

	// Run until stdin closes, a signal, or testingd dies on its own.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stdinClosed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	select {
	case <-ctx.Done():
	case <-stdinClosed:
	case err := <-p.died:
		return fmt.Errorf("testingd exited on its own: %v\n%s", err, p.tail())
	}
	return nil
}

// ---- the testingd process ----

type proc struct {
	binary  string
	args    []string
	listen  string // the first start's address; then the address it got
	verbose bool

	mu    sync.Mutex
	cmd   *exec.Cmd
	addr  string
	done  chan error // the running process's Wait result
	logs  []string   // the last lines of its log
	died  chan error // a process that exited without stop()
	gen   int        // which start the running process is
	alive bool
}

func (p *proc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

func (p *proc) address() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addr
}

func (p *proc) tail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.logs, "\n")
}

func (p *proc) log(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.logs = append(p.logs, line)
	if len(p.logs) > 40 {
		p.logs = p.logs[len(p.logs)-40:]
	}
}

// start runs testingd and waits for its "listening" log line.
func (p *proc) start() error {
	p.mu.Lock()
	if p.alive {
		p.mu.Unlock()
		return errors.New("testingd is already running")
	}
	if p.died == nil {
		p.died = make(chan error, 1)
	}
	listen := p.listen
	if p.addr != "" {
		listen = p.addr // a restart: same address, so the page reconnects to it
	}
	p.gen++
	gen := p.gen
	p.mu.Unlock()

	cmd := exec.Command(p.binary, append(append([]string(nil), p.args...), "--listen", listen)...)
	cmd.Stdout = os.Stderr
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start testingd: %w", err)
	}
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if p.verbose {
				fmt.Fprintln(os.Stderr, line)
			}
			p.log(line)
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" && rec.Addr != "" {
				select {
				case listening <- rec.Addr:
				default:
				}
			}
		}
	}()
	done := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		done <- err
		p.mu.Lock()
		unexpected := p.gen == gen && p.alive
		p.alive = false
		p.mu.Unlock()
		if unexpected {
			select {
			case p.died <- err:
			default:
			}
		}
	}()

	// A restart on the same port can race the old socket's release: retry briefly.
	select {
	case addr := <-listening:
		p.mu.Lock()
		p.cmd, p.addr, p.done, p.alive = cmd, addr, done, true
		p.mu.Unlock()
		return nil
	case err := <-done:
		return fmt.Errorf("testingd exited before listening: %v\n%s", err, p.tail())
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("testingd did not say it was listening within 20 s\n%s", p.tail())
	}
}

// stop ends testingd (SIGTERM, SIGKILL after 5 s) and waits for it.
func (p *proc) stop() {
	p.mu.Lock()
	cmd, done, alive := p.cmd, p.done, p.alive
	p.alive = false
	p.mu.Unlock()
	if cmd == nil || !alive {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// ---- the control server ----

type controller struct {
	jk   *fakejenkins.Server
	proc *proc

	mu    sync.Mutex
	runID int
}

func (c *controller) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /triggers", func(w http.ResponseWriter, _ *http.Request) {
		triggers := c.jk.Triggers()
		if triggers == nil {
			triggers = []fakejenkins.Trigger{}
		}
		writeJSON(w, triggers)
	})
	mux.HandleFunc("POST /jenkins", func(w http.ResponseWriter, r *http.Request) {
		status := r.URL.Query().Get("status")
		if status == "" {
			status = "IN_PROGRESS"
		}
		c.mu.Lock()
		c.runID++
		id := c.runID
		c.mu.Unlock()
		// A run the deploy's trigger started begins after the deploy did, or the
		// service takes the deploy for still queued.
		start := time.Now()
		run := jenkins.Run{ID: strconv.Itoa(id), Name: "#" + strconv.Itoa(id), Status: status, Start: start}
		stages := []string{"Checkout", "js", "components", "deploy"}
		for i, name := range stages {
			st := "SUCCESS"
			if status == "IN_PROGRESS" && i == 1 {
				st = "IN_PROGRESS"
			} else if status == "IN_PROGRESS" && i > 1 {
				st = "NOT_EXECUTED"
			}
			run.Stages = append(run.Stages, jenkins.Stage{Name: name, Status: st})
		}
		if status != "IN_PROGRESS" {
			run.End = start.Add(time.Millisecond)
		}
		c.jk.SetRuns([]jenkins.Run{run})
		writeJSON(w, map[string]any{"id": strconv.Itoa(id), "status": status})
	})
	mux.HandleFunc("POST /stop", func(w http.ResponseWriter, _ *http.Request) {
		c.proc.stop()
		writeJSON(w, map[string]any{"stopped": true})
	})
	mux.HandleFunc("POST /start", func(w http.ResponseWriter, _ *http.Request) {
		var err error
		// The port was just released; a few tries cover a slow release.
		for i := 0; i < 20; i++ {
			if err = c.proc.start(); err == nil || strings.Contains(err.Error(), "already running") {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, map[string]any{"pid": c.proc.pid(), "url": "http://" + c.proc.address() + "/"})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// ---- the worlds ----

type compare struct {
	base, head    string
	status        string
	ahead, behind int
}

// world is what the fakes and the files start with.
type world struct {
	pulls      []fakegithub.PullSpec
	compares   []compare
	state      []byte
	transcript string
	run        jenkins.Run // Jenkins' latest run: the last deploy, a success
	builtAt    time.Time
}

// sha is a stable made-up commit SHA.
func sha(kind string, n int) string {
	sum := sha1.Sum([]byte(kind + "-" + strconv.Itoa(n)))
	return hex.EncodeToString(sum[:])
}

// pyTime formats t as the state file does (Python's isoformat).
func pyTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05+00:00") }

// row is one PR of the state file, in the state file's shape.
type row struct {
	PR            int    `json:"pr"`
	Commit        string `json:"commit"`
	Active        bool   `json:"active"`
	Title         string `json:"title"`
	AddedAt       string `json:"added_at"`
	AddedBy       string `json:"added_by"`
	PullLatestSHA string `json:"pull_latest_sha"`
	PendingActive *bool  `json:"pending_active"`
	Author        string `json:"author"`
	AuthorAvatar  string `json:"author_avatar"`
	Assignee      string `json:"assignee"`
	AssigneeAvat  string `json:"assignee_avatar"`
}

type stateFile struct {
	LastDeployAt    string            `json:"last_deploy_at"`
	PRs             []row             `json:"prs"`
	DeployStartedAt string            `json:"deploy_started_at"`
	Deployed        map[string]string `json:"deployed"`
}

// spec describes one PR of a world.
type spec struct {
	number   int
	title    string
	author   string
	assignee string
	addedBy  string
	addedAgo time.Duration
	// GitHub's side
	ahead    int  // commits the head is ahead of the pin (0 = up to date)
	diverged bool // the pin is no longer in the branch
	merged   bool
	closed   bool
	// the state file's side
	off          bool   // active false
	stagePin     bool   // pull_latest_sha = the head
	stageDisable bool   // pending_active false
	fresh        bool   // added since the last deploy (not in "deployed")
	conflict     bool   // failed to merge in the last build
	pin          string // the pinned (and head) commit; "" = a made-up SHA
}

func (w *world) build(now time.Time, specs []spec, removed map[int]string) {
	deployAt := now.Add(-2 * time.Hour)
	st := stateFile{LastDeployAt: pyTime(deployAt), DeployStartedAt: pyTime(deployAt), Deployed: map[string]string{}}
	var tr strings.Builder
	tr.WriteString("Switched to branch 'master'\nAlready up to date.\nSwitched to a new branch 'dev-merged'\n")
	for _, s := range specs {
		pin := sha("pin", s.number)
		if s.pin != "" {
			pin = s.pin
		}
		head := pin
		if s.ahead > 0 || s.diverged || s.merged {
			head = sha("head", s.number)
			status, behind := "ahead", 0
			if s.diverged {
				status, behind = "diverged", 1
			}
			w.compares = append(w.compares, compare{pin, head, status, max(s.ahead, 1), behind})
		}
		state := ""
		if s.closed {
			state = "closed"
		}
		// GitHub has computed mergeability for the open PRs (clean), as it has for an
		// ordinary set; without it every open row would say "checking…".
		var mergeable *bool
		if state == "" && !s.merged {
			clean := true
			mergeable = &clean
		}
		w.pulls = append(w.pulls, fakegithub.PullSpec{Number: s.number, Title: s.title, Head: head, Author: s.author, Assignee: s.assignee, Merged: s.merged, State: state, Mergeable: mergeable})
		r := row{
			PR: s.number, Commit: pin, Active: !s.off, Title: s.title,
			AddedAt: pyTime(now.Add(-s.addedAgo)), AddedBy: s.addedBy,
			Author: s.author, Assignee: s.assignee,
		}
		if s.stagePin {
			r.PullLatestSHA = head
		}
		if s.stageDisable {
			f := false
			r.PendingActive = &f
		}
		st.PRs = append(st.PRs, r)
		if !s.fresh && !s.off {
			st.Deployed[strconv.Itoa(s.number)] = s.title
			fmt.Fprintf(&tr, "---\norigin pull/%d/head  # pinned at %s\n", s.number, pin)
			if s.conflict {
				tr.WriteString("Auto-merging openlibrary/plugins/openlibrary/status.py\n")
				tr.WriteString("CONFLICT (content): Merge conflict in openlibrary/plugins/openlibrary/status.py\n")
				tr.WriteString("Automatic merge failed; fix conflicts and then commit the result.\n")
				fmt.Fprintf(&tr, "Merge conflict for PR #%d (pinned %s) — skipping\n", s.number, pin)
			} else {
				fmt.Fprintf(&tr, "From https://github.com/internetarchive/openlibrary\n * branch                refs/pull/%d/head -> FETCH_HEAD\n", s.number)
				tr.WriteString("Merge made by the 'ort' strategy.\n")
				fmt.Fprintf(&tr, " openlibrary/plugins/upstream/code_%d.py | %d +-\n 1 file changed, %d insertion(+), 1 deletion(-)\n", s.number, 2+s.number%7, 1+s.number%7)
			}
		}
	}
	for n, title := range removed {
		st.Deployed[strconv.Itoa(n)] = title
	}
	fmt.Fprintf(&tr, "---\nComplete; dev-merged created (SHA: %s)\n", sha("build", 1)[:7])
	w.transcript = tr.String()
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		panic(err)
	}
	w.state = append(data, '\n')
	w.builtAt = deployAt.Add(2 * time.Minute)
	w.run = jenkins.Run{
		ID: "411", Name: "#411", Status: "SUCCESS",
		Start:  deployAt.Add(10 * time.Second),
		End:    deployAt.Add(4*time.Minute + 30*time.Second),
		Stages: []jenkins.Stage{{Name: "Checkout", Status: "SUCCESS"}, {Name: "js", Status: "SUCCESS"}, {Name: "components", Status: "SUCCESS"}, {Name: "deploy", Status: "SUCCESS"}},
	}
}

// realistic is the e2e tests' and screenshots' world: 12 PRs in every state a row
// can be in, a PR removed since the last deploy, a conflict in the last build, and
// three PRs on GitHub that are not in the set yet (13300, 13301 open; 13302 merged).
func realistic(now time.Time) world {
	h := time.Hour
	specs := []spec{
		{number: 13238, title: "Fix search facets fallback", author: "mekarpeles", addedBy: "mekarpeles", addedAgo: 5 * 24 * h, ahead: 3},
		{number: 13240, title: "Unified icon system", author: "cdrini", assignee: "RayBB", addedBy: "cdrini", addedAgo: 5 * 24 * h, merged: true},
		{number: 13245, title: "Export the reading log as CSV", author: "jimchamp", assignee: "mekarpeles", addedBy: "jimchamp", addedAgo: 4 * 24 * h},
		{number: 13251, title: "Book page: lazy-load the editions table", author: "RayBB", addedBy: "RayBB", addedAgo: 3 * 24 * h},
		{number: 13256, title: "Librarian merge UI refactor", author: "scottbarnes", addedBy: "scottbarnes", addedAgo: 3 * 24 * h, closed: true},
		{number: 13260, title: "Upgrade Vue to 3.5", author: "cdrini", assignee: "jimchamp", addedBy: "cdrini", addedAgo: 2 * 24 * h, ahead: 2, stagePin: true},
		{number: 13262, title: "Paginate the OPDS feed", author: "hornc", addedBy: "hornc", addedAgo: 2 * 24 * h, stageDisable: true},
		{number: 13265, title: "Trending carousel: fix swipe on phones", author: "lokesh", addedBy: "lokesh", addedAgo: 30 * h, off: true},
		{number: 13269, title: "Spanish translations for My Books", author: "mheiman", assignee: "cdrini", addedBy: "mheiman", addedAgo: 40 * time.Minute, fresh: true},
		{number: 13271, title: "Fewer Solr queries on author pages", author: "mekarpeles", addedBy: "mekarpeles", addedAgo: 25 * time.Minute, fresh: true, ahead: 1, diverged: true},
		{number: 13274, title: "Visible focus rings on carousels", author: "jimchamp", addedBy: "jimchamp", addedAgo: 26 * h},
		{number: 13370, title: "Status page: show merge conflicts", author: "scottbarnes", assignee: "mekarpeles", addedBy: "scottbarnes", addedAgo: 28 * h, conflict: true},
	}
	var w world
	w.build(now, specs, map[int]string{13111: "Old PR since removed"})
	// Not in the set: what the tests add.
	w.pulls = append(w.pulls,
		fakegithub.PullSpec{Number: 13300, Title: "Cover upload: accept HEIC files", Author: "RayBB"},
		fakegithub.PullSpec{Number: 13301, Title: "Lists: sort by date added", Author: "jimchamp", Assignee: "cdrini"},
		fakegithub.PullSpec{Number: 13302, Title: "Drop the legacy borrow button", Author: "cdrini", Merged: true},
	)
	return w
}

// many is the benchmark's world: n open PRs, all deployed, a fifth of them drifted.
func many(now time.Time, n int) world {
	authors := []string{"mekarpeles", "cdrini", "jimchamp", "RayBB", "scottbarnes", "hornc", "mheiman", "lokesh"}
	topics := []string{"search facets", "reading log", "editions table", "cover upload", "OPDS feed", "author pages", "lists", "borrow flow", "i18n strings", "Solr queries"}
	verbs := []string{"Fix", "Speed up", "Refactor", "Test", "Document"}
	specs := make([]spec, n)
	for i := range specs {
		specs[i] = spec{
			number:   13000 + i,
			title:    fmt.Sprintf("%s the %s (#%d)", verbs[i%len(verbs)], topics[i%len(topics)], i+1),
			author:   authors[i%len(authors)],
			addedBy:  authors[(i+3)%len(authors)],
			addedAgo: time.Duration(i+1) * time.Hour,
		}
		if i%3 == 0 {
			specs[i].assignee = authors[(i+1)%len(authors)]
		}
		if i%5 == 0 {
			specs[i].ahead = 1 + i%4
		}
	}
	var w world
	w.build(now, specs, nil)
	return w
}

// StatusPy is the file two PRs of the git world both change, so they conflict.
const StatusPy = "openlibrary/plugins/openlibrary/status.py"

// gitWorld is the deploy prediction's world: a real upstream repository (gittest,
// with refs/pull/N/head as GitHub serves them) and its bare mirror for --git-dir,
// made under dir. In state order the deploy merges 13208 (deployed; changes
// status.py), 13245 (deployed; its own file), 13274 (deployed; changes the home
// template, which master changed since) and 13370 (new since the deploy; changes the
// same lines of status.py as 13208): so 13274 conflicts with master and 13370 with
// #13208, and the next deploy (adding 13370) is predicted to skip both.
func gitWorld(now time.Time, dir string) (w world, mirror string, err error) {
	t := &programTB{dir: dir}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("git world: %v", r)
		}
	}()
	up := gittest.New(t)
	status := func(line string) string {
		return "def GET():\n    " + line + "\n    return render()\n"
	}
	home := func(line string) string { return "<h1>" + line + "</h1>\n" }
	root := up.Commit("", map[string]string{
		StatusPy:                          status("prs = load_prs()"),
		"openlibrary/templates/home.html": home("Welcome"),
		"README.md":                       "Open Library\n",
	}, "base")
	master := up.Commit(root, map[string]string{"openlibrary/templates/home.html": home("Welcome to Open Library")}, "home: a longer welcome")
	up.SetBranch("master", master)
	pins := map[int]string{
		13208: up.Commit(root, map[string]string{StatusPy: status("prs = load_prs(deployed=True)")}, "status: the deploy's PRs"),
		13245: up.Commit(root, map[string]string{"openlibrary/plugins/upstream/export.py": "def csv(): pass\n"}, "reading log as CSV"),
		13274: up.Commit(root, map[string]string{"openlibrary/templates/home.html": home("Hello")}, "home: say hello"),
		13370: up.Commit(root, map[string]string{StatusPy: status("prs = load_prs(conflicts=True)")}, "status: show merge conflicts"),
	}
	for n, c := range pins {
		up.SetPR(n, c)
	}
	mirror = up.Mirror()
	h := time.Hour
	specs := []spec{
		{number: 13208, title: "Status page: list the deploy's PRs", author: "cdrini", addedBy: "cdrini", addedAgo: 3 * 24 * h},
		{number: 13245, title: "Export the reading log as CSV", author: "jimchamp", addedBy: "jimchamp", addedAgo: 2 * 24 * h},
		{number: 13274, title: "Home page: say hello", author: "RayBB", addedBy: "RayBB", addedAgo: 26 * h},
		{number: 13370, title: "Status page: show merge conflicts", author: "scottbarnes", addedBy: "scottbarnes", addedAgo: 40 * time.Minute, fresh: true},
	}
	for i := range specs {
		specs[i].pin = pins[specs[i].number]
	}
	w.build(now, specs, nil)
	return w, mirror, nil
}

// programTB lets a program use gittest, which is written for tests: temporary
// directories under dir (removed with it), and a failure panics, recovered by
// gitWorld into an error. gittest calls no other method of testing.TB.
type programTB struct {
	testing.TB // nil
	dir        string
}

func (t *programTB) Helper() {}

func (t *programTB) TempDir() string {
	d, err := os.MkdirTemp(t.dir, "git-")
	if err != nil {
		panic(err)
	}
	return d
}

func (t *programTB) Fatal(args ...any)                 { panic(fmt.Sprint(args...)) }
func (t *programTB) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (t *programTB) Skip(args ...any)                  { panic(fmt.Sprint(args...)) }
