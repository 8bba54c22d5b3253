package webui

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
)

// assetNames returns the bundle's hashed script and favicon, as index.html names them.
func assetNames(t *testing.T) (script, icon string) {
	t.Helper()
	index, err := dist.ReadFile("dist/index.html")
	if err != nil {
		t.Fatal(err)
	}
	s := regexp.MustCompile(`src="(assets/app-[0-9a-f]+\.js)"`).FindSubmatch(index)
	i := regexp.MustCompile(`href="(assets/favicon-[0-9a-f]+\.svg)"`).FindSubmatch(index)
	if s == nil || i == nil {
		t.Fatalf("index.html names no hashed script or favicon:\n%s", index)
	}
	return string(s[1]), string(i[1])
}

func get(t *testing.T, srv *httptest.Server, method, path, acceptEncoding string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Set explicitly, so the client does not ask for (and transparently undo) gzip.
	req.Header.Set("Accept-Encoding", acceptEncoding)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestHandler(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(Handler())
	t.Cleanup(srv.Close)
	index, err := dist.ReadFile("dist/index.html")
	if err != nil {
		t.Fatal(err)
	}
	script, icon := assetNames(t)
	js, err := dist.ReadFile("dist/" + script)
	if err != nil {
		t.Fatal(err)
	}

	const immutable = "public, max-age=31536000, immutable"
	tests := []struct {
		name, method, path string
		wantStatus         int
		wantBody           []byte // nil: not checked
		wantType           string
		wantCache          string
	}{
		{"root", "GET", "/", 200, index, "text/html; charset=utf-8", "no-cache"},
		{"index.html", "GET", "/index.html", 200, index, "text/html; charset=utf-8", "no-cache"},
		{"HEAD root", "HEAD", "/", 200, []byte{}, "text/html; charset=utf-8", "no-cache"},
		{"hashed script", "GET", "/" + script, 200, js, "text/javascript; charset=utf-8", immutable},
		{"hashed favicon", "GET", "/" + icon, 200, nil, "image/svg+xml", immutable},
		{"app route", "GET", "/prs/123", 200, nil, "text/html; charset=utf-8", "no-cache"},
		{"app route with trailing slash", "GET", "/events/", 200, nil, "text/html; charset=utf-8", "no-cache"},
		{"dot dot stays inside", "GET", "/../../etc/hosts.conf", 404, nil, "", ""},
		{"dot dot cleaned", "GET", "/a/../index.html", 200, index, "text/html; charset=utf-8", "no-cache"},
		{"missing asset", "GET", "/app.missing.js", 404, nil, "", ""},
		{"missing nested asset", "GET", "/assets/x.css", 404, nil, "", ""},
		{"variants are not files", "GET", "/index.html.gz", 404, nil, "", ""},
		{"POST", "POST", "/", 405, nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, body := get(t, srv, tt.method, tt.path, "")
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantBody != nil && !bytes.Equal(body, tt.wantBody) {
				t.Errorf("body differs from the file: %.200s", body)
			}
			if resp.StatusCode != 200 {
				return
			}
			if got := resp.Header.Get("Content-Type"); got != tt.wantType {
				t.Errorf("Content-Type %q, want %q", got, tt.wantType)
			}
			if got := resp.Header.Get("Cache-Control"); got != tt.wantCache {
				t.Errorf("Cache-Control %q, want %q", got, tt.wantCache)
			}
			if resp.Header.Get("ETag") == "" {
				t.Error("no ETag")
			}
			if got := resp.Header.Get("Content-Encoding"); got != "" {
				t.Errorf("Content-Encoding %q without Accept-Encoding", got)
			}
		})
	}
}

// TestHandlerServesEveryChunk: the build splits the script into an entry, the
// chunks it imports and chunks loaded on demand; every one of them, named by
// index.html or by another script, is served as immutable JavaScript, and every
// script under assets/ is reachable that way (no stale chunk is left behind).
func TestHandlerServesEveryChunk(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(Handler())
	t.Cleanup(srv.Close)
	index, err := dist.ReadFile("dist/index.html")
	if err != nil {
		t.Fatal(err)
	}
	script, _ := assetNames(t)
	// The entry and the chunks it imports statically are preloaded.
	preloads := regexp.MustCompile(`<link rel="modulepreload" href="([^"]+)">`).FindAllSubmatch(index, -1)
	if len(preloads) == 0 {
		t.Error("index.html preloads nothing")
	}
	// Scripts name their chunks relative to themselves: import"./x.js", from"./x.js", import("./x.js").
	ref := regexp.MustCompile(`(?:from|import\(?)\s*"\./([^"]+\.js)"`)
	seen := map[string]bool{}
	queue := []string{script}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if seen[name] {
			continue
		}
		seen[name] = true
		if !hashed.MatchString(name) {
			t.Errorf("%s is not named by its content", name)
		}
		resp, body := get(t, srv, "GET", "/"+name, "")
		if resp.StatusCode != 200 {
			t.Errorf("%s: status %d", name, resp.StatusCode)
			continue
		}
		if got := resp.Header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
			t.Errorf("%s: Cache-Control %q", name, got)
		}
		if got := resp.Header.Get("Content-Type"); got != "text/javascript; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", name, got)
		}
		for _, ae := range []string{"br", "gzip"} {
			if resp, _ := get(t, srv, "GET", "/"+name, ae); resp.Header.Get("Content-Encoding") != ae {
				t.Errorf("%s: no %s variant served", name, ae)
			}
		}
		for _, m := range ref.FindAllSubmatch(body, -1) {
			queue = append(queue, path.Join(path.Dir(name), string(m[1])))
		}
	}
	for _, m := range preloads {
		if !seen[string(m[1])] {
			t.Errorf("index.html preloads %s, which no script imports", m[1])
		}
	}
	if len(seen) < 2 {
		t.Errorf("only %v: the build is not split", seen)
	}
	all, err := fs.Glob(dist, "dist/assets/*.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range all {
		if name := strings.TrimPrefix(f, "dist/"); !seen[name] {
			t.Errorf("%s is in dist but no script loads it", name)
		}
	}
}

func TestHandlerRoutesClimbBackToTheRoot(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(Handler())
	t.Cleanup(srv.Close)
	for path, want := range map[string]string{
		"/prs":       "",
		"/prs/123":   `<base href="../">`,
		"/events/":   `<base href="../">`,
		"/a/b/c":     `<base href="../../">`,
		"/a/b/c/":    `<base href="../../../">`,
		"/deep/x/y/": `<base href="../../../">`,
	} {
		_, body := get(t, srv, "GET", path, "")
		has := strings.Contains(string(body), "<base ")
		if want == "" && has || want != "" && !strings.Contains(string(body), want) {
			t.Errorf("%s: want %q in:\n%.300s", path, want, body)
		}
	}
	// Compressed like everything else.
	resp, body := get(t, srv, "GET", "/prs/123", "gzip")
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if !strings.Contains(string(plain), `<base href="../">`) {
		t.Errorf("gzipped route page lacks its base: %.300s", plain)
	}
}

func TestHandlerPrecompressed(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(Handler())
	t.Cleanup(srv.Close)
	script, _ := assetNames(t)
	tests := []struct {
		acceptEncoding, want string
	}{
		{"", ""},
		{"identity", ""},
		{"gzip", "gzip"},
		{"gzip, deflate, br", "br"},
		{"br;q=0, gzip", "gzip"},
		{"gzip;q=0", ""},
		{"*", "br"},
		{"*, br;q=0", "gzip"},
		{"BR", "br"},
	}
	for _, path := range []string{"/", "/" + script} {
		name := strings.TrimPrefix(path, "/")
		if name == "" {
			name = "index.html"
		}
		plain, err := dist.ReadFile("dist/" + name)
		if err != nil {
			t.Fatal(err)
		}
		etags := map[string]string{}
		for _, tt := range tests {
			resp, body := get(t, srv, "GET", path, tt.acceptEncoding)
			if got := resp.Header.Get("Content-Encoding"); got != tt.want {
				t.Errorf("%s with %q: Content-Encoding %q, want %q", path, tt.acceptEncoding, got, tt.want)
				continue
			}
			if resp.Header.Get("Vary") != "Accept-Encoding" {
				t.Errorf("%s: Vary %q", path, resp.Header.Get("Vary"))
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/") {
				t.Errorf("%s with %q: Content-Type %q is not the original's", path, tt.acceptEncoding, ct)
			}
			want := plain
			if tt.want != "" {
				ext := map[string]string{"gzip": ".gz", "br": ".br"}[tt.want]
				want, _ = fs.ReadFile(dist, "dist/"+name+ext)
			}
			if !bytes.Equal(body, want) {
				t.Errorf("%s with %q: body is not the %q variant", path, tt.acceptEncoding, tt.want)
			}
			if tt.want == "gzip" {
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				if got, _ := io.ReadAll(zr); !bytes.Equal(got, plain) {
					t.Errorf("%s: the .gz does not decompress to the file", path)
				}
				if !zr.ModTime.IsZero() {
					t.Errorf("%s: the .gz carries a time (%v): builds would differ", path, zr.ModTime)
				}
			}
			etags[tt.want] = resp.Header.Get("ETag")
		}
		if etags[""] == etags["gzip"] || etags["gzip"] == etags["br"] || etags[""] == etags["br"] {
			t.Errorf("%s: variants share an ETag: %v", path, etags)
		}
	}
}

func TestEveryFileHasVariants(t *testing.T) {
	t.Parallel()
	for name, f := range files() {
		for _, e := range encodings {
			if _, ok := f.encoded[e.name]; !ok {
				t.Errorf("%s has no %s variant", name, e.name)
			}
		}
	}
}

func TestHandlerRevalidation(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(Handler())
	t.Cleanup(srv.Close)
	for _, ae := range []string{"", "gzip", "br"} {
		resp, _ := get(t, srv, "GET", "/", ae)
		etag := resp.Header.Get("ETag")

		req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/", nil)
		req.Header.Set("If-None-Match", etag)
		req.Header.Set("Accept-Encoding", ae)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("revalidation (%q) with the ETag: status %d, want 304", ae, resp.StatusCode)
		}
	}
}

func TestIndexPointsAtTheAPI(t *testing.T) {
	t.Parallel()
	index, err := dist.ReadFile("dist/index.html")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(index), "openlibrary.testing.v1.TestingService") {
		t.Error("the page does not say where the API is (for browsers without JavaScript)")
	}
	if strings.Contains(string(index), `="/`) {
		t.Error("index.html has a root-relative URL: it would break under a --base-path")
	}
}
