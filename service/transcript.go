package service

import (
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/persistence"
)

// transcriptCache parses the build transcript again only when the file changed (by
// size, modification time or inode), so a warm read costs one stat.
type transcriptCache struct {
	path     string
	maxBytes int64

	mu      sync.Mutex
	key     fileKey
	cached  transcriptFile
	lastErr string // the last read error reported, "" after a success
}

// newError reports whether err differs from the last read error reported.
func (c *transcriptCache) newError(err error) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err.Error() == c.lastErr {
		return false
	}
	c.lastErr = err.Error()
	return true
}

type fileKey struct {
	exists bool
	size   int64
	mtime  int64
	ino    uint64
}

type transcriptFile struct {
	persistence.Transcript
	exists  bool
	modTime time.Time
	key     fileKey // the file version it was read from
}

func newTranscriptCache(path string, maxBytes int64) *transcriptCache {
	return &transcriptCache{path: path, maxBytes: maxBytes}
}

func statKey(path string) (fileKey, error) {
	fi, err := os.Stat(path)
	if os.IsNotExist(err) {
		return fileKey{}, nil
	}
	if err != nil {
		return fileKey{}, err
	}
	k := fileKey{exists: true, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		k.ino = st.Ino
	}
	return k, nil
}

// get returns the transcript; a missing file is an empty, non-existing transcript.
func (c *transcriptCache) get() (transcriptFile, error) {
	if c.path == "" {
		return transcriptFile{}, nil
	}
	k, err := statKey(c.path)
	if err != nil {
		return transcriptFile{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if k == c.key && (k.exists || !c.cached.exists) {
		return c.cached, nil
	}
	if !k.exists {
		c.key, c.cached = k, transcriptFile{key: k}
		return c.cached, nil
	}
	t, mod, exists, err := persistence.LoadTranscript(c.path, c.maxBytes)
	if err != nil {
		return transcriptFile{}, err
	}
	c.key, c.cached, c.lastErr = k, transcriptFile{Transcript: t, exists: exists, modTime: mod, key: k}, ""
	return c.cached, nil
}

// buildResult converts a transcript for GetBuildResult (LEGACY-UI.md §1.9).
func buildResult(t transcriptFile, repo string) *testingv1.GetBuildResultResponse {
	if !t.exists {
		return &testingv1.GetBuildResultResponse{}
	}
	out := &testingv1.GetBuildResultResponse{
		Exists:     true,
		GitStatus:  t.GitStatus,
		Footer:     t.Footer,
		ModifiedAt: timestamp(t.modTime, true),
		Truncated:  t.Truncated,
	}
	var search []string
	for _, p := range t.PRs {
		b := &testingv1.BuildPullRequest{
			Number:        int32(p.Number),
			Name:          p.Name,
			Status:        p.Status,
			Body:          p.Body,
			MergeConflict: p.MergeConflict,
			PullLine:      p.PullLine,
			Skipped:       p.Skipped,
		}
		if p.Number > 0 {
			b.Link = pullURL(repo, p.Number)
			search = append(search, "#"+strconv.Itoa(p.Number))
		}
		out.Prs = append(out.Prs, b)
	}
	if len(search) > 0 {
		// As legacy: urlencode({"q": "is:pr is:open #a #b"}).
		q := url.Values{"q": {"is:pr is:open " + strings.Join(search, " ")}}
		out.GithubUrl = githubWeb + repo + "/pulls?" + q.Encode()
	}
	return out
}

// githubWeb is where GitHub's pages live (links for people, not API calls).
const githubWeb = "https://github.com/"

func pullURL(repo string, n int) string { return githubWeb + repo + "/pull/" + strconv.Itoa(n) }
