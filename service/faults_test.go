package service_test

// Fault injection (issue 6, item 2). docs/reliability/faults.md is the table these
// cases assert, one case per row and under the same name: the fake GitHub, the fake
// Jenkins, the fake Open Library and a real memcached each slow, hanging, down,
// failing, answering garbage, rate-limiting and flapping, one at a time and combined.
//
// Every case warms a real server up first (drift resolved, Jenkins' runs read, the
// maintainers' usergroup read, a change staged), then injects its fault and checks:
//
//   - reads: GetStatus answers within faultReadBound from stored data, with the
//     staleness fields of the row, while the fault lasts and while a Deploy runs;
//   - writes: StagePRs, AddPRs and Deploy succeed or fail with the row's code and
//     words, and the state file keeps every staged change (a failed Deploy leaves it
//     byte for byte as it was);
//   - recovery: once the fault ends, the service shows fresh data again.
//
// Time is measured as the time this process ran: wall time less the moments the
// machine did not run it at all (stallMeter), so that a busy machine (-race, dozens of
// servers, other people's fuzzers) does not fail a case, while a read that waits for a
// sick dependency (every injected delay is longer than the bound) still does.
//
// A case that found a bug is kept, skipped with "BUG: …" unless TESTINGD_FAULT_BUGS=1.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	gocmp "github.com/google/go-cmp/cmp"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/integrations/jenkins"
	"github.com/internetarchive/testingd/integrations/openlibrary"
	"github.com/internetarchive/testingd/internal/fakegithub"
	"github.com/internetarchive/testingd/internal/fakeopenlibrary"
	"github.com/internetarchive/testingd/internal/testmemcached"
	"github.com/internetarchive/testingd/persistence"
	"github.com/internetarchive/testingd/service"
)

const (
	// faultReadBound is "within a second": the running time any read under a fault
	// may take.
	faultReadBound = time.Second
	// faultWriteBound is the running time of a write that waits for no sick
	// dependency.
	faultWriteBound = 3 * time.Second
	// faultGrace is added to every request's deadline: the bounds above are checked
	// on running time once the request is over, and the deadline only stops a request
	// that would never end.
	faultGrace = 10 * time.Second
	// faultSlow is how late a slow dependency answers: well past faultReadBound, within
	// every client's timeout (GitHub's is ghTimeout here, Open Library's 5s, Jenkins'
	// set per case).
	faultSlow = 3 * time.Second
	// ghTimeout is the GitHub client's bound of one request in newEnv.
	ghTimeout = 5 * time.Second
	// faultJenkinsTimeout bounds one Jenkins request unless a case says otherwise.
	faultJenkinsTimeout = 3 * time.Second
	// faultTTL is the drift TTL while a fault lasts: short, so that a fault is met by
	// the first read after it instead of a minute later. The resolver retries a
	// failure after max(TTL/4, 1s) = 1s. (Warming up, facts are fresh for a minute.)
	faultTTL = time.Second
	// faultGroupsTTL is how long usergroup members are fresh (Open Library cases).
	faultGroupsTTL = 300 * time.Millisecond
	// faultRunsTTL is a little past the service's runsTTL (5s): how long a Jenkins
	// fault must last before a read asks Jenkins again.
	faultRunsTTL = 5300 * time.Millisecond
	// runsWait is how long a read with no Jenkins runs at all waits for them.
	runsWait = 3 * time.Second

	faultStaged = "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432" // 13238's staged pull_latest_sha in the fixture
	faultHead4  = "4444444444444444444444444444444444444444" // 13269's head once it moves
	faultNewPR  = 13300                                      // open on GitHub, not in the set: AddPRs adds it
	okCode      = connect.Code(0)                            // no error
)

// faultCase is one row of docs/reliability/faults.md.
type faultCase struct {
	name string
	bug  string // a bug this case found: skipped unless TESTINGD_FAULT_BUGS=1

	ol             bool          // --auth openlibrary against a fake Open Library (else dev auth)
	jenkinsTimeout time.Duration // the Jenkins client's bound of one request; default faultJenkinsTimeout
	cold           bool          // inject before warming up: nothing is known yet of the sick dependency
	restart        bool          // check a second, fresh instance over the same state and memcached

	inject       func(f *faultEnv)
	settle       time.Duration // how long the fault lasts before the checks (reads go on meanwhile)
	read         readWant
	write        writeWant
	also         func(t *testing.T, f *faultEnv) // more checks of this case, before the writes
	duringDeploy func(f *faultEnv)               // run once while the Deploy is in flight
	heal         func(f *faultEnv)               // ends the fault; nil = it lasts
	// converge: what must come back fresh once healed: "github" (a moved head and
	// its drift, fresh), "jenkins" (a new run), "openlibrary" (a membership change),
	// "memcached" (the moved head's facts in memcached again).
	converge []string
}

// readWant is what GetStatus shows while the fault lasts. The case reads until it
// does; every read must answer within bound.
type readWant struct {
	// driftError is what drift_error comes to contain ("{reset}" stands for the rate
	// limit's reset time, 15:04 UTC); "" = drift is fresh (drift_stale false,
	// drift_error ""); "*" = anything (flapping).
	driftError   string
	driftUnknown bool   // no drift is known (else 13238's stored drift, 3, is shown throughout)
	movedHead    bool   // reads go on until 13269's moved head shows with its drift (2)
	runID        string // deploy_run_id; default "412", the last run Jenkins reported; "-" = none
	guessed      bool   // deploy_state_guessed
	fails        connect.Code
	failMsg      string
	bound        time.Duration // default faultReadBound
	coldFirst    time.Duration // cold: the bound of the very first read, which may wait
}

// writeWant is what the writes answer while the fault lasts.
type writeWant struct {
	rpc       []connect.Code // StagePRs and AddPRs as RPCs; default OK
	pull      []testingv1.ItemOutcome
	add       []testingv1.AddOutcome
	msg       string // in the PULL_LATEST and AddPRs messages when GitHub could not be asked
	deploy    []connect.Code
	deployMsg string
	bound     time.Duration // of each write but Deploy; default faultWriteBound
	// deployBound is Deploy's; default faultWriteBound + the Jenkins timeout.
	deployBound time.Duration
}

var (
	pullApplied   = []testingv1.ItemOutcome{testingv1.ItemOutcome_ITEM_OUTCOME_APPLIED}
	pullUnavail   = []testingv1.ItemOutcome{testingv1.ItemOutcome_ITEM_OUTCOME_GITHUB_UNAVAILABLE}
	pullEither    = append(slices.Clone(pullApplied), pullUnavail...)
	addAdded      = []testingv1.AddOutcome{testingv1.AddOutcome_ADD_OUTCOME_ADDED}
	addUnavail    = []testingv1.AddOutcome{testingv1.AddOutcome_ADD_OUTCOME_GITHUB_UNAVAILABLE}
	addEither     = append(slices.Clone(addAdded), addUnavail...)
	deployOK      = []connect.Code{okCode}
	deployUnavail = []connect.Code{connect.CodeUnavailable}
	deployEither  = []connect.Code{okCode, connect.CodeUnavailable}
	writesHealthy = writeWant{pull: pullApplied, add: addAdded, deploy: deployOK}
)

const (
	ghUnavailable  = "GitHub is unavailable; showing the last known drift"
	ghRefreshing   = "some drift is being refreshed from GitHub"
	ghCannotAsk    = "GitHub could not be asked; try again shortly"
	ghRateLimited  = "GitHub rate limit reached (resets at "
	jenkinsRefused = "Jenkins did not accept the deploy"
	jenkinsDown    = jenkinsRefused + " (Jenkins is unreachable or failing); nothing was changed, every staged change is kept"
	olUnavailable  = "cannot check who you are right now (Open Library unavailable)"
)

// writesGitHubDown: GitHub cannot be asked, Jenkins can: nothing needing a head is
// staged or added, the deploy goes ahead on what is known.
func writesGitHubDown(msg string) writeWant {
	return writeWant{pull: pullUnavail, add: addUnavail, msg: msg, deploy: deployOK}
}

// writesJenkinsDown: GitHub can be asked, Jenkins cannot take the deploy.
func writesJenkinsDown(deployMsg string) writeWant {
	return writeWant{pull: pullApplied, add: addAdded, deploy: deployUnavail, deployMsg: deployMsg}
}

func faultCases() []faultCase {
	rateLimit := func(f *faultEnv, d time.Duration) {
		f.rateReset = time.Now().Add(d).Truncate(time.Second)
		f.gh.RateLimit(f.rateReset)
	}
	return []faultCase{
		// Jenkins, one fault at a time. Jenkins is asked again only after runsTTL, so
		// each fault lasts past it before the checks.
		{
			name: "jenkins/flapping",
			inject: func(f *faultEnv) {
				f.flapping(200*time.Millisecond, func(i int) {
					if i%2 == 0 {
						f.jk.FailAll(http.StatusBadGateway)
					} else {
						f.jk.Heal()
					}
				})
			},
			settle:   faultRunsTTL,
			write:    writeWant{pull: pullApplied, add: addAdded, deploy: deployEither, deployMsg: jenkinsDown},
			heal:     func(f *faultEnv) { f.stopFlapping(); f.jk.Heal() },
			converge: []string{"jenkins"},
		},
		{
			name:           "jenkins/slow",
			jenkinsTimeout: faultSlow + faultGrace,
			inject:         func(f *faultEnv) { f.jk.SetLatency(faultSlow) },
			settle:         faultRunsTTL,
			write:          writeWant{pull: pullApplied, add: addAdded, deploy: deployOK, deployBound: faultSlow + faultWriteBound},
			heal:           func(f *faultEnv) { f.jk.SetLatency(0) },
			converge:       []string{"jenkins"},
		},
		{
			name:   "jenkins/hanging",
			inject: func(f *faultEnv) { f.jk.Hang() },
			settle: faultRunsTTL,
			write:  writesJenkinsDown(jenkinsDown),
		},
		{
			name:   "jenkins/down",
			inject: func(f *faultEnv) { f.jk.Close() },
			settle: faultRunsTTL,
			write:  writesJenkinsDown(jenkinsDown),
		},
		{
			name:   "jenkins/5xx",
			inject: func(f *faultEnv) { f.jk.FailAll(http.StatusServiceUnavailable) },
			settle: faultRunsTTL,
			write:  writesJenkinsDown(jenkinsDown),
		},
		{
			// Only the runs list answers garbage (a Jenkins starting up): the trigger works.
			name:   "jenkins/garbage",
			inject: func(f *faultEnv) { f.jk.Garbage(true) },
			settle: faultRunsTTL,
			write:  writesHealthy,
		},
		{
			name:   "jenkins/rate-limited",
			inject: func(f *faultEnv) { f.jk.FailAll(http.StatusTooManyRequests) },
			settle: faultRunsTTL,
			write:  writesJenkinsDown(jenkinsRefused + " (Jenkins refused it)"),
		},
		{
			// Nothing known of Jenkins yet: the first read waits for it (runsWait), then
			// reads guess from deploy_started_at without asking for failedRunsTTL.
			name:           "jenkins/hanging, cold",
			cold:           true,
			jenkinsTimeout: 5 * time.Second,
			inject:         func(f *faultEnv) { f.jk.Hang() },
			read:           readWant{runID: "-", guessed: true, coldFirst: runsWait + faultReadBound},
			write:          writesJenkinsDown(jenkinsDown),
		},

		// GitHub, one fault at a time.
		{
			name:   "github/hanging",
			inject: func(f *faultEnv) { f.gh.Hang() },
			read:   readWant{driftError: ghUnavailable},
			write: writeWant{pull: pullUnavail, add: addUnavail, msg: ghCannotAsk, deploy: deployOK,
				bound: ghTimeout + faultWriteBound, deployBound: 2*ghTimeout + faultWriteBound},
			heal:     func(f *faultEnv) { f.gh.Heal() },
			converge: []string{"github"},
		},
		{
			name:   "github/slow",
			inject: func(f *faultEnv) { f.gh.SetLatency(faultSlow) },
			read:   readWant{driftError: ghRefreshing},
			// A head is asked for: the writes take the latency (past GitHub's client
			// timeout on a busy machine: GITHUB_UNAVAILABLE).
			write: writeWant{pull: pullEither, add: addEither, msg: ghCannotAsk, deploy: deployOK,
				bound: faultSlow + faultWriteBound, deployBound: 2*faultSlow + faultWriteBound},
			heal:     func(f *faultEnv) { f.gh.SetLatency(0) },
			converge: []string{"github"},
		},
		{
			// A head that moved is a comparison never asked, as is a pin a deploy moved.
			// Found as a bug (the reads that met one waited for GitHub, bounded only by
			// the caller); now they wait drift.Options.CompareWait at most and answer
			// with the new head and the drift pending.
			name: "github/slow, a head moved",
			inject: func(f *faultEnv) {
				f.gh.SetLatency(faultSlow)
				f.gh.SetPull(fakegithub.PullSpec{Number: 13269, Title: "Test PR", Head: faultHead4, Author: "author", Assignee: "assignee"})
				f.gh.SetCompare(pin13269, faultHead4, "ahead", 2, 0)
			},
			read: readWant{driftError: "*", movedHead: true},
			write: writeWant{pull: pullEither, add: addEither, msg: ghCannotAsk, deploy: deployOK,
				bound: faultSlow + faultWriteBound, deployBound: 2*faultSlow + faultWriteBound},
			heal: func(f *faultEnv) { f.gh.SetLatency(0) },
		},
		{
			name:   "github/down",
			inject: func(f *faultEnv) { f.gh.Close() },
			read:   readWant{driftError: ghUnavailable},
			write:  writesGitHubDown(ghCannotAsk),
		},
		{
			name:     "github/5xx",
			inject:   func(f *faultEnv) { f.gh.FailAll(http.StatusBadGateway) },
			read:     readWant{driftError: ghUnavailable},
			write:    writesGitHubDown(ghCannotAsk),
			heal:     func(f *faultEnv) { f.gh.Heal() },
			converge: []string{"github"},
		},
		{
			name:     "github/garbage",
			inject:   func(f *faultEnv) { f.gh.Garbage(true) },
			read:     readWant{driftError: ghUnavailable},
			write:    writesGitHubDown(ghCannotAsk),
			heal:     func(f *faultEnv) { f.gh.Heal() },
			converge: []string{"github"},
		},
		{
			name:     "github/rate-limited",
			inject:   func(f *faultEnv) { rateLimit(f, 8*time.Second) },
			read:     readWant{driftError: ghRateLimited + "{reset}); showing the last known drift"},
			write:    writesGitHubDown(ghRateLimited + "{reset}); try again then"),
			heal:     func(f *faultEnv) { time.Sleep(time.Until(f.rateReset)) }, // it lifts itself
			converge: []string{"github"},
		},
		{
			name:     "github/secondary rate limit",
			inject:   func(f *faultEnv) { f.gh.SecondaryRateLimit(8 * time.Second) },
			read:     readWant{driftError: ghRateLimited},
			write:    writesGitHubDown(ghRateLimited),
			heal:     func(f *faultEnv) { f.gh.Heal() }, // GitHub said when: not asked before then
			converge: []string{"github"},
		},
		{
			name: "github/flapping",
			inject: func(f *faultEnv) {
				f.flapping(150*time.Millisecond, func(i int) {
					if i%2 == 0 {
						f.gh.FailNext(2, http.StatusBadGateway)
					} else {
						f.gh.FailNext(0, 0)
					}
				})
			},
			settle:   3 * faultTTL,
			read:     readWant{driftError: "*"},
			write:    writeWant{pull: pullEither, add: addEither, msg: ghCannotAsk, deploy: deployOK},
			heal:     func(f *faultEnv) { f.stopFlapping(); f.gh.Heal() },
			converge: []string{"github"},
		},

		// Open Library (--auth openlibrary), one fault at a time. Usergroups are fresh
		// for faultGroupsTTL; the faults last past it.
		{
			name: "openlibrary/slow",
			// Found as a bug (past the usergroup TTL each request waited for the refetch:
			// 3 s here, groupsTimeout with Open Library hanging); usergroups are now
			// stale-while-revalidate within the 5-minute bound.
			ol:     true,
			inject: func(f *faultEnv) { f.ol.SetLatency(faultSlow) },
			settle: 2 * faultGroupsTTL,
			write:  writesHealthy,
		},
		{
			name:   "openlibrary/hanging",
			ol:     true,
			inject: func(f *faultEnv) { f.ol.SetLatency(time.Minute) },
			settle: 2 * faultGroupsTTL,
			write:  writesHealthy,
		},
		{
			name:   "openlibrary/down",
			ol:     true,
			inject: func(f *faultEnv) { f.ol.Close() },
			settle: 2 * faultGroupsTTL,
			write:  writesHealthy,
		},
		{
			name:     "openlibrary/5xx",
			ol:       true,
			inject:   func(f *faultEnv) { f.ol.FailAll(http.StatusBadGateway) },
			settle:   2 * faultGroupsTTL,
			write:    writesHealthy,
			heal:     func(f *faultEnv) { f.ol.FailAll(0) },
			converge: []string{"openlibrary"},
		},
		{
			name:     "openlibrary/garbage",
			ol:       true,
			inject:   func(f *faultEnv) { f.ol.Garbage(true) },
			settle:   2 * faultGroupsTTL,
			write:    writesHealthy,
			heal:     func(f *faultEnv) { f.ol.Garbage(false) },
			converge: []string{"openlibrary"},
		},
		{
			name:   "openlibrary/rate-limited",
			ol:     true,
			inject: func(f *faultEnv) { f.ol.FailAll(http.StatusTooManyRequests) },
			settle: 2 * faultGroupsTTL,
			write:  writesHealthy,
		},
		{
			name: "openlibrary/flapping",
			ol:   true,
			inject: func(f *faultEnv) {
				f.flapping(100*time.Millisecond, func(i int) {
					if i%2 == 0 {
						f.ol.FailAll(http.StatusBadGateway)
					} else {
						f.ol.FailAll(0)
					}
				})
			},
			settle:   1500 * time.Millisecond,
			write:    writesHealthy,
			heal:     func(f *faultEnv) { f.stopFlapping(); f.ol.FailAll(0) },
			converge: []string{"openlibrary"},
		},
		{
			// Nothing known of the maintainers' usergroup: a cookie cannot be checked, so
			// it is refused, never let in; tokens do not need Open Library.
			name:   "openlibrary/down, cold",
			ol:     true,
			cold:   true,
			inject: func(f *faultEnv) { f.ol.FailAll(http.StatusBadGateway) },
			read:   readWant{fails: connect.CodeUnavailable, failMsg: olUnavailable},
			write:  writeWant{rpc: []connect.Code{connect.CodeUnavailable}, deploy: deployUnavail, deployMsg: olUnavailable},
		},

		// memcached: a real one, behind a proxy that can make it slow, mute or garbled.
		// Drift is kept in memory too: a warm server does not need memcached to answer.
		{
			name:     "memcached/down",
			inject:   func(f *faultEnv) { f.mcd.Stop() },
			write:    writesHealthy,
			heal:     func(f *faultEnv) { f.mcd.Restart() },
			converge: []string{"github", "memcached"},
		},
		{
			name:     "memcached/slow",
			inject:   func(f *faultEnv) { f.proxy.set(proxySlow) },
			write:    writesHealthy,
			heal:     func(f *faultEnv) { f.proxy.set(proxyPass) },
			converge: []string{"github", "memcached"},
		},
		{
			name:     "memcached/hanging",
			inject:   func(f *faultEnv) { f.proxy.set(proxyMute) },
			write:    writesHealthy,
			heal:     func(f *faultEnv) { f.proxy.set(proxyPass) },
			converge: []string{"github", "memcached"},
		},
		{
			// AddPRs stores what it looked up in the drift cache, one PR after another.
			name: "memcached/hanging, adding 50 PRs",
			// Found as a bug (Learn wrote each PR to memcached one after another on the
			// request's path: 50 PRs waited about 5 s); Learn now writes them in the
			// background.
			inject: func(f *faultEnv) {
				f.proxy.set(proxyMute)
				for n := 13301; n <= 13350; n++ {
					f.gh.SetPull(fakegithub.PullSpec{Number: n, Title: "PR " + strconv.Itoa(n), Head: head3, Author: "someone"})
				}
			},
			also: func(t *testing.T, f *faultEnv) {
				var refs []string
				for n := 13301; n <= 13350; n++ {
					refs = append(refs, strconv.Itoa(n))
				}
				var res *testingv1.AddPRsResponse
				took, err := f.timed(faultWriteBound, func(ctx context.Context) error {
					r, err := f.connect.AddPRs(ctx, faultReq(f, &testingv1.AddPRsRequest{Refs: refs}))
					if err == nil {
						res = r.Msg
					}
					return err
				})
				if err != nil || took > faultWriteBound {
					t.Fatalf("AddPRs of 50 PRs with memcached hanging = %v after %v; want an answer within %v", errString(err), took.Round(time.Millisecond), faultWriteBound)
				}
				for _, r := range res.Results {
					if r.Outcome != testingv1.AddOutcome_ADD_OUTCOME_ADDED {
						t.Errorf("AddPRs %s = %v; want ADDED", r.Ref, r.Outcome)
					}
				}
			},
			write: writesHealthy,
		},
		{
			name:     "memcached/garbage",
			inject:   func(f *faultEnv) { f.proxy.set(proxyGarbage) },
			write:    writesHealthy,
			heal:     func(f *faultEnv) { f.proxy.set(proxyPass) },
			converge: []string{"github", "memcached"},
		},
		{
			name: "memcached/flapping",
			inject: func(f *faultEnv) {
				f.flapping(150*time.Millisecond, func(i int) {
					if i%2 == 0 {
						f.mcd.Stop()
					} else {
						f.mcd.Restart()
					}
				})
			},
			settle:   1500 * time.Millisecond,
			write:    writesHealthy,
			heal:     func(f *faultEnv) { f.stopFlapping(); f.mcd.Restart() },
			converge: []string{"github", "memcached"},
		},

		// Combinations.
		{
			name:     "github down + memcached down",
			inject:   func(f *faultEnv) { f.gh.FailAll(http.StatusBadGateway); f.mcd.Stop() },
			read:     readWant{driftError: ghUnavailable},
			write:    writesGitHubDown(ghCannotAsk),
			heal:     func(f *faultEnv) { f.gh.Heal(); f.mcd.Restart() },
			converge: []string{"github", "memcached"},
		},
		{
			// A restarted (or second) instance: nothing in memory, the drift in memcached.
			name:     "restarted, github down",
			restart:  true,
			inject:   func(f *faultEnv) { f.gh.FailAll(http.StatusBadGateway) },
			read:     readWant{driftError: ghUnavailable},
			write:    writesGitHubDown(ghCannotAsk),
			heal:     func(f *faultEnv) { f.gh.Heal() },
			converge: []string{"github"},
		},
		{
			// Nothing in memory nor in memcached: the rows come from the state file, their
			// drift is unknown.
			name:     "restarted, github down + memcached down",
			restart:  true,
			inject:   func(f *faultEnv) { f.gh.FailAll(http.StatusBadGateway); f.mcd.Stop() },
			read:     readWant{driftError: ghUnavailable, driftUnknown: true},
			write:    writesGitHubDown(ghCannotAsk),
			heal:     func(f *faultEnv) { f.gh.Heal(); f.mcd.Restart() },
			converge: []string{"github", "memcached"},
		},
		{
			name:   "jenkins hanging + github rate-limited",
			inject: func(f *faultEnv) { f.jk.Hang(); rateLimit(f, time.Minute) },
			settle: faultRunsTTL,
			read:   readWant{driftError: ghRateLimited + "{reset}); showing the last known drift"},
			write: writeWant{pull: pullUnavail, add: addUnavail, msg: ghRateLimited + "{reset}); try again then",
				deploy: deployUnavail, deployMsg: jenkinsDown},
		},
		{
			// While Deploy waits for Jenkins it holds the state file's lock; a read with
			// new GitHub facts to write back must not wait for it.
			name: "jenkins hanging + github renames a PR",
			// Found as a bug (reads waited for the lock a Deploy held); the write-back now
			// tries the lock for 50 ms and leaves it to the next computation.
			jenkinsTimeout: faultSlow + 3*faultReadBound,
			inject:         func(f *faultEnv) { f.jk.Hang() },
			write:          writesJenkinsDown(jenkinsDown),
			duringDeploy: func(f *faultEnv) {
				f.gh.SetPull(fakegithub.PullSpec{Number: 13269, Title: "Test PR (renamed)", Head: pin13269, Author: "author", Assignee: "assignee"})
			},
		},
		{
			// GitHub, Jenkins, Open Library and memcached all down, after a warm start.
			name: "everything down",
			ol:   true,
			inject: func(f *faultEnv) {
				f.gh.Close()
				f.jk.Close()
				f.ol.Close()
				f.mcd.Stop()
			},
			settle: faultRunsTTL,
			read:   readWant{driftError: ghUnavailable},
			write:  writeWant{pull: pullUnavail, add: addUnavail, msg: ghCannotAsk, deploy: deployUnavail, deployMsg: jenkinsDown},
		},
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	stalls := startStallMeter(t)
	// The cases mostly wait (for TTLs, timeouts, a dependency to come back), so they
	// all run at once: t.Parallel would hold them to -parallel (GOMAXPROCS) at a time.
	// Warming up costs CPU: a few cases warm up at a time, in the table's order (the
	// longest first).
	var wg sync.WaitGroup
	warming := make(chan struct{}, 6)
	for _, c := range faultCases() {
		if c.bug != "" && os.Getenv("TESTINGD_FAULT_BUGS") == "" {
			t.Run(c.name, func(t *testing.T) { t.Skip("BUG: " + c.bug) })
			continue
		}
		warming <- struct{}{}
		wg.Go(func() {
			ran := false
			t.Run(c.name, func(t *testing.T) {
				ran = true
				runFaultCase(t, c, stalls, func() { <-warming })
			})
			if !ran { // not selected by -run
				<-warming
			}
		})
	}
	wg.Wait()
}

// runFaultCase runs one row; warmed is called once the server is warm.
func runFaultCase(t *testing.T, c faultCase, stalls *stallMeter, warmed func()) {
	var once sync.Once
	defer once.Do(warmed)
	f := newFaultEnv(t, c, stalls)
	if c.cold {
		c.inject(f)
	}
	f.warm(t, c)
	once.Do(warmed)
	switch {
	case c.restart:
		f.restartInstance(t, c)
	case !c.cold:
		c.inject(f)
	}
	f.readFor(t, c, c.settle)
	f.checkReads(t, c)
	if c.also != nil {
		c.also(t, f)
	}
	f.checkWrites(t, c)
	if c.heal == nil {
		return
	}
	c.heal(f)
	for _, what := range c.converge {
		f.checkConverges(t, what)
	}
}

// faultEnv is one server under fault injection.
type faultEnv struct {
	*env
	t         *testing.T
	stalls    *stallMeter
	opts      envOptions
	mcd       *testmemcached.Instance // the real memcached
	proxy     *faultProxy             // in front of it: the server's memcached
	ol        *fakeopenlibrary.Server // nil unless the case authenticates with Open Library
	creds     []string                // the caller's header (name, value); none with dev auth
	rateReset time.Time               // when GitHub's rate limit resets, once injected

	flapMu   sync.Mutex
	flapStop chan struct{}
	flapDone chan struct{}
}

func newFaultEnv(t *testing.T, c faultCase, stalls *stallMeter) *faultEnv {
	f := &faultEnv{t: t, stalls: stalls, mcd: testmemcached.New(t)}
	f.proxy = newFaultProxy(t, f.mcd.Addr())
	f.opts = envOptions{
		state:          "testing-prs.json",
		ttl:            faultTTL,
		jenkinsToken:   "jenkins-secret",
		jenkinsTimeout: cmp.Or(c.jenkinsTimeout, faultJenkinsTimeout),
		memcached:      f.proxy.addr(),
	}
	if c.ol {
		f.ol = fakeopenlibrary.New(t)
		tokensPath := filepath.Join(t.TempDir(), "tokens")
		writeTokens(t, tokensPath, "ci-bot "+openlibrary.HashToken(ciToken)+"\n")
		tokens, err := openlibrary.OpenTokens(tokensPath, nil)
		if err != nil {
			t.Fatal(err)
		}
		groups, err := openlibrary.NewGroups(f.ol.URL, f.ol.Client(), faultGroupsTTL, nil)
		if err != nil {
			t.Fatal(err)
		}
		f.opts.auth, err = service.NewOpenLibraryAuth(service.OpenLibraryAuthOptions{
			Secret: []byte(olSecret), Groups: groups, MaintainerGroups: []string{"maintainers"}, Tokens: tokens,
		})
		if err != nil {
			t.Fatal(err)
		}
		f.creds = []string{"Cookie", sessionCookie("openlibrary", olSecret)}
	}
	f.env = newEnv(t, f.opts)
	f.seed()
	return f
}

// seed makes GitHub describe the fixture's PRs, 13238's staged commit and a PR to add.
func (f *faultEnv) seed() {
	f.seedFixturePRs()
	f.gh.SetCompare(faultStaged, head1, "ahead", 1, 0)
	f.gh.SetPull(fakegithub.PullSpec{Number: faultNewPR, Title: "New feature", Head: head3, Author: "someone"})
}

// restartInstance replaces the server by a fresh one (nothing in memory) over the same
// state and the same memcached, as after a restart of testingd, and injects the fault.
//
// The new instance's first read looks in memcached, each look bounded by 100ms; a busy
// machine can make one time out, and then the drift is unknown until GitHub answers,
// which is right but not what the case is about: the instance is then restarted again.
func (f *faultEnv) restartInstance(t *testing.T, c faultCase) {
	o := f.opts
	o.state, o.stateBytes = "", f.bytes(t)
	for attempt := 1; ; attempt++ {
		f.env = newEnv(t, o)
		f.seed()
		c.inject(f)
		if c.read.driftUnknown || attempt == 3 {
			return
		}
		st, _, err := f.status(runsWait + faultReadBound)
		if err != nil || findRow(st, 13238).GetDrift() == 3 || f.mc.Stats().Errors == 0 {
			return // checkReads judges
		}
		t.Logf("memcached failed the restarted instance's first read (%d errors): restarting it again", f.mc.Stats().Errors)
	}
}

func faultReq[T any](f *faultEnv, msg *T) *connect.Request[T] {
	return withHeaders(msg, f.creds...)
}

// as runs fn with the caller's credentials replaced by kv.
func (f *faultEnv) as(kv []string, fn func()) {
	creds := f.creds
	f.creds = kv
	defer func() { f.creds = creds }()
	fn()
}

var (
	asToken  = []string{"Authorization", "Bearer " + ciToken}
	asReader = []string{"Cookie", sessionCookie("reader", olSecret)}
)

// codeName is a code as these tests print it.
func codeName(c connect.Code) string {
	if c == okCode {
		return "OK"
	}
	return c.String()
}

func codeNames(cs []connect.Code) []string {
	var out []string
	for _, c := range cs {
		out = append(out, codeName(c))
	}
	return out
}

func codeOf(err error) connect.Code {
	if err == nil {
		return okCode
	}
	return connect.CodeOf(err)
}

// timed runs fn under a deadline of bound plus faultGrace, and returns how long this
// process ran meanwhile.
func (f *faultEnv) timed(bound time.Duration, fn func(ctx context.Context) error) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(f.t.Context(), bound+faultGrace)
	defer cancel()
	start := time.Now()
	err := fn(ctx)
	return f.stalls.running(start, time.Now()), err
}

// status is one GetStatus, and how long it ran.
func (f *faultEnv) status(bound time.Duration) (*testingv1.GetStatusResponse, time.Duration, error) {
	var st *testingv1.GetStatusResponse
	took, err := f.timed(bound, func(ctx context.Context) error {
		res, err := f.connect.GetStatus(ctx, faultReq(f, &testingv1.GetStatusRequest{}))
		if err == nil {
			st = res.Msg
		}
		return err
	})
	return st, took, err
}

// warm brings the server to fresh drift and the Jenkins runs read (unless Jenkins is
// the cold case), and stages a change (13269 switched off at the next deploy) that no
// fault may lose.
func (f *faultEnv) warm(t *testing.T, c faultCase) {
	t.Helper()
	if c.cold && c.ol {
		creds := f.creds
		f.creds = asToken // Open Library is down already
		defer func() { f.creds = creds }()
	}
	f.resolver.SetTTL(time.Minute)
	defer f.resolver.SetTTL(faultTTL)
	deadline := time.Now().Add(25 * time.Second)
	for first := true; ; first = false {
		st, took, err := f.status(faultGrace)
		if first && c.cold && c.read.coldFirst > 0 && took > c.read.coldFirst {
			t.Errorf("the first read, with nothing known of the sick dependency, took %v; want at most %v", took.Round(time.Millisecond), c.read.coldFirst)
		}
		if err == nil && !st.DriftStale && st.DriftError == "" && findRow(st, 13238).GetDrift() == 3 &&
			(c.cold || st.DeployRunId == "412") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not warm up: last GetStatus %s, %v", brief(st), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	res, err := f.connect.StagePRs(t.Context(), faultReq(f, &testingv1.StagePRsRequest{Numbers: []int32{13269}, Stage: testingv1.Stage_STAGE_DISABLE}))
	if err != nil || res.Msg.Results[0].Outcome != testingv1.ItemOutcome_ITEM_OUTCOME_APPLIED {
		t.Fatalf("staging before the fault = %v, %v", res, err)
	}
	if c.restart {
		f.storedInMemcached(t)
	}
}

// storedInMemcached makes sure memcached holds what the server resolved: 13238's facts
// and its comparison. The server's writes to memcached are best effort (100ms) and a
// busy machine can drop one; a lost one is written again, as the server writes it.
func (f *faultEnv) storedInMemcached(t *testing.T) {
	t.Helper()
	compareKey := "testingd/v1/" + repo + "/compare/" + pin13238 + "..." + head1
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if !f.l2Has(13238, head1) {
			f.resolver.SetTTL(faultTTL) // a refresh writes the facts again
			time.Sleep(faultTTL)
			_, _, _ = f.status(faultGrace)
			f.resolver.SetTTL(time.Minute)
		}
		if _, ok := f.mc.GetMulti(t.Context(), []string{compareKey})[compareKey]; !ok {
			f.mc.Set(t.Context(), compareKey, []byte(`{"status":"ahead","ahead_by":3,"behind_by":0}`), 0)
		}
		if _, ok := f.mc.GetMulti(t.Context(), []string{compareKey})[compareKey]; ok && f.l2Has(13238, head1) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("memcached does not hold 13238's facts and comparison")
		}
	}
}

// l2Has reports whether memcached holds PR n's facts with the given head.
func (f *faultEnv) l2Has(n int, head string) bool {
	key := "testingd/v1/" + repo + "/pull/" + strconv.Itoa(n)
	v, ok := f.mc.GetMulti(f.t.Context(), []string{key})[key]
	if !ok {
		return false
	}
	var rec struct {
		Head string `json:"head_sha"`
	}
	return json.Unmarshal(v, &rec) == nil && rec.Head == head
}

// expand fills in what a case only knows once its fault is injected.
func (f *faultEnv) expand(s string) string {
	return strings.ReplaceAll(s, "{reset}", f.rateReset.UTC().Format("15:04 UTC"))
}

// readFor keeps reading for d, each read within the case's bound.
func (f *faultEnv) readFor(t *testing.T, c faultCase, d time.Duration) {
	t.Helper()
	bound := cmp.Or(c.read.bound, faultReadBound)
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(300 * time.Millisecond) {
		_, took, err := f.status(bound)
		if codeOf(err) != c.read.fails || took > bound {
			t.Fatalf("GetStatus while the fault lasts = %v after %v; want %v within %v", errString(err), took.Round(time.Millisecond), codeName(c.read.fails), bound)
		}
	}
}

// checkReads reads until GetStatus shows what the row says, every read within bound
// and showing the stored rows.
func (f *faultEnv) checkReads(t *testing.T, c faultCase) {
	t.Helper()
	w := c.read
	bound := cmp.Or(w.bound, faultReadBound)
	runID := cmp.Or(w.runID, "412")
	if runID == "-" {
		runID = ""
	}
	driftError := f.expand(w.driftError)
	deadline := time.Now().Add(15 * time.Second)
	for first := true; ; first = false {
		b := bound
		if first && c.restart {
			// A restarted instance's first read is cold: it waits for Jenkins' runs (at
			// most runsWait) and looks in memcached.
			b += runsWait
		}
		st, took, err := f.status(b)
		if w.fails != okCode {
			if codeOf(err) != w.fails || !strings.Contains(err.Error(), w.failMsg) || took > b {
				t.Fatalf("GetStatus = %v after %v; want %v saying %q within %v", errString(err), took.Round(time.Millisecond), codeName(w.fails), w.failMsg, b)
			}
			f.as(asToken, func() {
				if _, took, err := f.status(bound); err != nil || took > bound {
					t.Errorf("GetStatus with a token = %v after %v; want an answer within %v: tokens need no Open Library", errString(err), took.Round(time.Millisecond), bound)
				}
			})
			return
		}
		if err != nil || took > b {
			t.Fatalf("GetStatus = %v after %v; want an answer from stored data within %v", errString(err), took.Round(time.Millisecond), b)
		}
		checkStored(t, st, w)
		fresh := !st.DriftStale && st.DriftError == ""
		driftOK := driftError == "*" || (driftError == "" && fresh) ||
			(driftError != "" && st.DriftStale && strings.Contains(st.DriftError, driftError))
		moved := findRow(st, 13269)
		if driftOK && st.DeployRunId == runID && st.DeployStateGuessed == w.guessed &&
			(!w.movedHead || moved.GetHeadSha() == faultHead4 && moved.GetDrift() == 2) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GetStatus never showed drift_error %q, run %q, guessed %v: last %s", driftError, runID, w.guessed, brief(st))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if f.ol != nil {
		// A signed-in reader is still refused, from the same cached answer.
		f.as(asReader, func() {
			if _, took, err := f.status(bound); codeOf(err) != connect.CodePermissionDenied || took > bound {
				t.Errorf("GetStatus as a reader = %v after %v; want PERMISSION_DENIED within %v", errString(err), took.Round(time.Millisecond), bound)
			}
		})
	}
}

// checkStored: a read under a fault shows the rows of the state file with what was
// known of them.
func checkStored(t *testing.T, st *testingv1.GetStatusResponse, w readWant) {
	t.Helper()
	want := map[int32]string{13238: "Fix search facets fallback", 13240: "Unified icon system", 13269: "Test PR"}
	for n, title := range want {
		row := findRow(st, n)
		if row == nil || row.Title != title || !row.InSet {
			t.Fatalf("row #%d = %v; want the stored row titled %q", n, row, title)
		}
	}
	drift := int32(3)
	if w.driftUnknown {
		drift = -1
	}
	if got := findRow(st, 13238).Drift; got != drift {
		t.Fatalf("#13238 drift = %d; want %d (what was known before the fault)", got, drift)
	}
}

// keptRow is what a write must keep of a row: its pin and its staged changes.
type keptRow struct {
	Number     int
	Commit     string
	Active     bool
	Pending    string // "" = nothing staged, "on", "off"
	PullLatest string
}

type keptState struct {
	Rows                          []keptRow
	Removed                       []int
	Deployed                      []string
	LastDeployAt, DeployStartedAt string
}

func (f *faultEnv) kept(t *testing.T) keptState {
	t.Helper()
	st, err := persistence.Parse(f.bytes(t))
	if err != nil {
		t.Fatal(err)
	}
	k := keptState{LastDeployAt: st.LastDeployAt, DeployStartedAt: st.DeployStartedAt}
	for _, pr := range st.PRs {
		r := keptRow{Number: pr.Number, Commit: pr.Commit, Active: pr.Active, PullLatest: pr.PullLatestSHA}
		if pr.PendingActive != nil {
			r.Pending = map[bool]string{true: "on", false: "off"}[*pr.PendingActive]
		}
		k.Rows = append(k.Rows, r)
	}
	for _, r := range st.Removed {
		k.Removed = append(k.Removed, r.PR.Number)
	}
	for _, d := range st.Deployed {
		k.Deployed = append(k.Deployed, d.Key)
	}
	return k
}

func (k *keptState) row(n int) *keptRow {
	for i := range k.Rows {
		if k.Rows[i].Number == n {
			return &k.Rows[i]
		}
	}
	return nil
}

// afterDeploy is k once deployed (API.md Rule 3): rows the plan removes leave, staged
// pins and switches apply, removal records go.
func (k keptState) afterDeploy(applied []*testingv1.PendingChange) keptState {
	removed := map[int]bool{}
	for _, c := range applied {
		if c.Kind == testingv1.ChangeKind_CHANGE_KIND_REMOVE {
			removed[int(c.Number)] = true
		}
	}
	out := keptState{Removed: nil}
	for _, r := range k.Rows {
		if removed[r.Number] {
			continue
		}
		if r.PullLatest != "" {
			r.Commit = r.PullLatest
		}
		r.PullLatest = ""
		if r.Pending != "" {
			r.Active, r.Pending = r.Pending == "on", ""
		}
		out.Rows = append(out.Rows, r)
		if r.Active {
			out.Deployed = append(out.Deployed, strconv.Itoa(r.Number))
		}
	}
	return out
}

// checkWrites stages, adds and deploys under the fault, and checks that the state
// file keeps every staged change.
func (f *faultEnv) checkWrites(t *testing.T, c faultCase) {
	t.Helper()
	w := c.write
	bound := cmp.Or(w.bound, faultWriteBound)
	rpcCodes := w.rpc
	if rpcCodes == nil {
		rpcCodes = []connect.Code{okCode}
	}
	call := func(what string, fn func(ctx context.Context) error) error {
		took, err := f.timed(bound, fn)
		if !slices.Contains(rpcCodes, codeOf(err)) || took > bound {
			t.Errorf("%s = %v after %v; want one of %v within %v", what, errString(err), took.Round(time.Millisecond), codeNames(rpcCodes), bound)
		}
		return err
	}
	want := f.kept(t)
	msg := f.expand(w.msg)

	// A switch needs no GitHub: staged whenever the caller is let in.
	var stage *testingv1.StagePRsResponse
	err := call("StagePRs DISABLE", func(ctx context.Context) error {
		res, err := f.connect.StagePRs(ctx, faultReq(f, &testingv1.StagePRsRequest{Numbers: []int32{13238}, Stage: testingv1.Stage_STAGE_DISABLE}))
		if err == nil {
			stage = res.Msg
		}
		return err
	})
	if err == nil {
		if o := stage.Results[0].Outcome; o != testingv1.ItemOutcome_ITEM_OUTCOME_APPLIED {
			t.Errorf("StagePRs DISABLE #13238 = %v; want APPLIED", o)
		}
		want.row(13238).Pending = "off"
	}

	// Moving a pin and adding a PR ask GitHub for heads; both at once.
	var (
		wg   sync.WaitGroup
		pull *testingv1.ItemResult
		add  *testingv1.AddResult
	)
	wg.Go(func() {
		_ = call("StagePRs PULL_LATEST", func(ctx context.Context) error {
			res, err := f.connect.StagePRs(ctx, faultReq(f, &testingv1.StagePRsRequest{Numbers: []int32{13238}, Stage: testingv1.Stage_STAGE_PULL_LATEST}))
			if err == nil {
				pull = res.Msg.Results[0]
			}
			return err
		})
	})
	wg.Go(func() {
		_ = call("AddPRs", func(ctx context.Context) error {
			res, err := f.connect.AddPRs(ctx, faultReq(f, &testingv1.AddPRsRequest{Refs: []string{strconv.Itoa(faultNewPR)}}))
			if err == nil {
				add = res.Msg.Results[0]
			}
			return err
		})
	})
	wg.Wait()
	if pull != nil {
		switch {
		case !slices.Contains(w.pull, pull.Outcome):
			t.Errorf("StagePRs PULL_LATEST #13238 = %v %q; want one of %v", pull.Outcome, pull.Message, w.pull)
		case pull.Outcome == testingv1.ItemOutcome_ITEM_OUTCOME_APPLIED:
			want.row(13238).PullLatest = head1
		case !strings.Contains(pull.Message, msg):
			t.Errorf("StagePRs PULL_LATEST #13238 says %q; want %q", pull.Message, msg)
		}
	}
	if add != nil {
		switch {
		case !slices.Contains(w.add, add.Outcome):
			t.Errorf("AddPRs #%d = %v %q; want one of %v", faultNewPR, add.Outcome, add.Message, w.add)
		case add.Outcome == testingv1.AddOutcome_ADD_OUTCOME_ADDED:
			want.Rows = append(want.Rows, keptRow{Number: faultNewPR, Commit: head3, Active: true})
		case !strings.Contains(add.Message, msg):
			t.Errorf("AddPRs #%d says %q; want %q", faultNewPR, add.Message, msg)
		}
	}
	if diff := gocmp.Diff(want, f.kept(t)); diff != "" {
		t.Errorf("the state file after the writes (-want +got):\n%s", diff)
	}

	// Deploy, reading all along: a read does not wait for it.
	before := f.bytes(t)
	type deployed struct {
		res  *testingv1.DeployResponse
		err  error
		took time.Duration
	}
	deployBound := cmp.Or(w.deployBound, faultWriteBound+cmp.Or(c.jenkinsTimeout, faultJenkinsTimeout))
	done := make(chan deployed, 1)
	go func() {
		var d deployed
		d.took, d.err = f.timed(deployBound, func(ctx context.Context) error {
			res, err := f.connect.Deploy(ctx, faultReq(f, &testingv1.DeployRequest{}))
			if err == nil {
				d.res = res.Msg
			}
			return err
		})
		done <- d
	}()
	var d deployed
	readBound := cmp.Or(c.read.bound, faultReadBound)
	for i := 0; ; i++ {
		select {
		case d = <-done:
		case <-time.After(250 * time.Millisecond):
			if i == 0 && c.duringDeploy != nil {
				c.duringDeploy(f)
			}
			if c.read.fails == okCode {
				if _, took, err := f.status(readBound); err != nil || took > readBound {
					t.Errorf("GetStatus while Deploy runs = %v after %v; want an answer within %v", errString(err), took.Round(time.Millisecond), readBound)
				}
			}
			continue
		}
		break
	}
	if !slices.Contains(w.deploy, codeOf(d.err)) || (d.err != nil && !strings.Contains(d.err.Error(), w.deployMsg)) || d.took > deployBound {
		t.Fatalf("Deploy = %v after %v; want one of %v saying %q within %v", errString(d.err), d.took.Round(time.Millisecond), codeNames(w.deploy), w.deployMsg, deployBound)
	}
	if d.err != nil {
		switch {
		case c.duringDeploy != nil:
			// What changed on GitHub meanwhile is written back once the lock is free:
			// the pins and staged changes are what must be as they were.
			if diff := gocmp.Diff(want, f.kept(t)); diff != "" {
				t.Errorf("the state file after a failed Deploy (-want +got):\n%s", diff)
			}
		case !bytes.Equal(f.bytes(t), before):
			t.Errorf("a failed Deploy changed the state file:\n%s\nwant\n%s", f.bytes(t), before)
		}
		return
	}
	if d.res.Outcome != testingv1.DeployOutcome_DEPLOY_OUTCOME_TRIGGERED {
		t.Errorf("Deploy outcome = %v; want TRIGGERED", d.res.Outcome)
	}
	got := f.kept(t)
	wantAfter := want.afterDeploy(d.res.Applied)
	if got.LastDeployAt == want.LastDeployAt || got.DeployStartedAt != got.LastDeployAt {
		t.Errorf("after the deploy last_deploy_at %q, deploy_started_at %q; want both now", got.LastDeployAt, got.DeployStartedAt)
	}
	wantAfter.LastDeployAt, wantAfter.DeployStartedAt = got.LastDeployAt, got.DeployStartedAt
	if diff := gocmp.Diff(wantAfter, got); diff != "" {
		t.Errorf("the state file after the deploy (-want +got):\n%s", diff)
	}
}

// checkConverges: once the fault is over, the service shows fresh data again.
func (f *faultEnv) checkConverges(t *testing.T, what string) {
	t.Helper()
	var (
		deadline = time.Now().Add(15 * time.Second)
		check    func() (bool, string)
	)
	switch what {
	case "github":
		f.gh.SetPull(fakegithub.PullSpec{Number: 13269, Title: "Test PR", Head: faultHead4, Author: "author", Assignee: "assignee"})
		f.gh.SetCompare(pin13269, faultHead4, "ahead", 2, 0)
		check = func() (bool, string) {
			st, _, err := f.status(faultReadBound)
			if err != nil {
				return false, err.Error()
			}
			row := findRow(st, 13269)
			return row.GetHeadSha() == faultHead4 && row.GetDrift() == 2 && !st.DriftStale && st.DriftError == "", brief(st)
		}
	case "memcached":
		check = func() (bool, string) {
			_, _, _ = f.status(faultReadBound) // reads keep the drift refreshing
			return f.l2Has(13269, faultHead4), "memcached lacks #13269 at its new head"
		}
	case "jenkins":
		// failedRunsTTL (15s) after the last failure, then runsTTL.
		deadline = time.Now().Add(30 * time.Second)
		now := time.Now()
		f.jk.SetRuns([]jenkins.Run{{ID: "413", Name: "#413", Status: "SUCCESS", Start: now, End: now}})
		check = func() (bool, string) {
			st, _, err := f.status(faultReadBound)
			if err != nil {
				return false, err.Error()
			}
			return st.DeployRunId == "413" && !st.DeployStateGuessed, brief(st)
		}
	case "openlibrary":
		f.ol.SetMembers("maintainers", "mekarpeles") // openlibrary leaves the maintainers
		check = func() (bool, string) {
			_, _, err := f.status(faultReadBound)
			return codeOf(err) == connect.CodePermissionDenied, "GetStatus = " + errString(err)
		}
	default:
		t.Fatalf("converge %q?", what)
	}
	for {
		ok, last := check()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not come back fresh after the fault: %s", what, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// brief is what these tests look at in a status.
func brief(st *testingv1.GetStatusResponse) string {
	if st == nil {
		return "none"
	}
	var b strings.Builder
	b.WriteString("drift_stale " + strconv.FormatBool(st.DriftStale) + ", drift_error " + strconv.Quote(st.DriftError) +
		", run " + strconv.Quote(st.DeployRunId) + ", guessed " + strconv.FormatBool(st.DeployStateGuessed) + ", rows")
	for _, p := range st.Prs {
		b.WriteString(" #" + strconv.Itoa(int(p.Number)) + "@" + shortSHA(p.HeadSha) + ":" + strconv.Itoa(int(p.Drift)))
	}
	return b.String()
}

func shortSHA(s string) string { return s[:min(len(s), 7)] }

func errString(err error) string {
	if err == nil {
		return "OK"
	}
	return err.Error()
}

// flapping calls flip(0), flip(1), … every period until stopFlapping or the end of
// the test.
func (f *faultEnv) flapping(period time.Duration, flip func(i int)) {
	f.flapMu.Lock()
	defer f.flapMu.Unlock()
	f.flapStop, f.flapDone = make(chan struct{}), make(chan struct{})
	stop, done := f.flapStop, f.flapDone
	flip(0)
	go func() {
		defer close(done)
		tick := time.NewTicker(period)
		defer tick.Stop()
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
				flip(i)
			}
		}
	}()
	f.t.Cleanup(f.stopFlapping)
}

func (f *faultEnv) stopFlapping() {
	f.flapMu.Lock()
	defer f.flapMu.Unlock()
	if f.flapStop != nil {
		close(f.flapStop)
		<-f.flapDone
		f.flapStop = nil
	}
}

// stallMeter tells how long this process ran: a goroutine ticks every stallTick, and
// a gap of more than stallGap between two ticks is time the machine did not run the
// process (or its scheduler did not get to run anything), which no bound of these
// tests is about.
type stallMeter struct {
	mu    sync.Mutex
	ticks []time.Time
}

const (
	stallTick = 10 * time.Millisecond
	stallGap  = 100 * time.Millisecond
)

func startStallMeter(t *testing.T) *stallMeter {
	m := &stallMeter{ticks: []time.Time{time.Now()}}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(stallTick)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				now := time.Now()
				m.mu.Lock()
				if len(m.ticks) >= 40000 { // keep a few minutes
					m.ticks = slices.Delete(m.ticks, 0, 20000)
				}
				m.ticks = append(m.ticks, now)
				m.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return m
}

// running returns to - from, less the stalls in between.
func (m *stallMeter) running(from, to time.Time) time.Duration {
	// A stall going on at to ends with the next tick.
	for range 200 {
		m.mu.Lock()
		last := m.ticks[len(m.ticks)-1]
		m.mu.Unlock()
		if last.After(to) {
			break
		}
		time.Sleep(stallTick)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var stalled time.Duration
	i := max(sort.Search(len(m.ticks), func(i int) bool { return m.ticks[i].After(from) }), 1)
	for ; i < len(m.ticks) && !m.ticks[i-1].After(to); i++ {
		a, b := m.ticks[i-1], m.ticks[i]
		if b.Sub(a) <= stallGap {
			continue
		}
		if a.Before(from) {
			a = from
		}
		if b.After(to) {
			b = to
		}
		if b.After(a) {
			stalled += b.Sub(a)
		}
	}
	return to.Sub(from) - stalled
}

// faultProxy is a TCP proxy in front of memcached that can pass, delay, swallow or
// garble what the client sends.
type faultProxy struct {
	ln       net.Listener
	upstream string

	mu     sync.Mutex
	mode   proxyMode
	conns  map[net.Conn]bool
	closed bool
}

type proxyMode int

const (
	proxyPass    proxyMode = iota
	proxySlow              // each request forwarded after proxyDelay (past the client's 100ms timeout)
	proxyMute              // requests swallowed, never answered
	proxyGarbage           // requests answered with bytes that are not memcached's protocol
)

const proxyDelay = 300 * time.Millisecond

func newFaultProxy(t *testing.T, upstream string) *faultProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, upstream: upstream, conns: map[net.Conn]bool{}}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { p.serve(c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		p.closed = true
		for c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		wg.Wait()
	})
	return p
}

func (p *faultProxy) addr() string { return p.ln.Addr().String() }

func (p *faultProxy) set(m proxyMode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = m
}

// track records an open connection (on) or forgets it; false: the proxy is closed.
func (p *faultProxy) track(c net.Conn, on bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case !on:
		delete(p.conns, c)
	case p.closed:
		return false
	default:
		p.conns[c] = true
	}
	return true
}

func (p *faultProxy) serve(c net.Conn) {
	defer c.Close()
	if !p.track(c, true) {
		return
	}
	defer p.track(c, false)
	up, err := net.Dial("tcp", p.upstream)
	if err != nil {
		return // memcached is stopped: the client sees its connection closed
	}
	defer up.Close()
	if !p.track(up, true) {
		return
	}
	defer p.track(up, false)
	go func() {
		_, _ = io.Copy(c, up)
		c.Close()
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		p.mu.Lock()
		mode := p.mode
		p.mu.Unlock()
		switch mode {
		case proxySlow:
			time.Sleep(proxyDelay)
		case proxyMute:
			continue
		case proxyGarbage:
			if _, err := c.Write([]byte("\x00\x17 GARBAGE not memcached \xff\r\n")); err != nil {
				return
			}
			continue
		}
		if _, err := up.Write(buf[:n]); err != nil {
			return
		}
	}
}
