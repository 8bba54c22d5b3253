package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/internetarchive/testingd/apidocs"
	"github.com/internetarchive/testingd/gen/openlibrary/testing/v1/testingv1connect"
	"github.com/internetarchive/testingd/internal/fakegithub"
	"github.com/internetarchive/testingd/internal/fakejenkins"
	"github.com/internetarchive/testingd/internal/gittest"
)

// serviceMethods are the RPCs of the TestingService as compiled, so an RPC added to
// the proto without regenerating the docs fails these tests.
func serviceMethods(t *testing.T) []protoreflect.MethodDescriptor {
	t.Helper()
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(testingv1connect.TestingServiceName)
	if err != nil {
		t.Fatal(err)
	}
	methods := d.(protoreflect.ServiceDescriptor).Methods()
	out := make([]protoreflect.MethodDescriptor, methods.Len())
	for i := range out {
		out[i] = methods.Get(i)
	}
	return out
}

// getOpenAPI fetches and parses BASE/openapi.json.
func getOpenAPI(t *testing.T, client *http.Client, url string) map[string]any {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", url, resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET %s: Content-Type %q; want application/json", url, ct)
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("GET %s: not JSON: %v", url, err)
	}
	return doc
}

// The OpenAPI document and the HTML page are served under the base path, describe
// every RPC the server has, link relatively, and stay behind dev auth's host check.
func TestAPIDocsServed(t *testing.T) {
	t.Parallel()
	for _, bp := range basePaths {
		t.Run(bp.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, newFakeService(), io.Discard, "--base-path", bp.flag)
			client := http1Client(t)
			doc := getOpenAPI(t, client, srv.url(bp.base+"openapi.json"))

			if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1") {
				t.Errorf("openapi = %q; want 3.1.x", v)
			}
			wantServer := strings.TrimSuffix(bp.base, "/")
			if wantServer == "" {
				wantServer = "/"
			}
			if got := dig(doc, "servers", "0", "url"); got != wantServer {
				t.Errorf("servers[0].url = %v; want %q", got, wantServer)
			}
			paths, _ := doc["paths"].(map[string]any)
			var want []string
			for _, m := range serviceMethods(t) {
				p := apidocs.Procedure(m)
				want = append(want, p)
				post, ok := dig(paths, p, "post").(map[string]any)
				if !ok {
					t.Errorf("openapi.json has no POST %s; run make generate", p)
					continue
				}
				if strings.TrimSpace(fmt.Sprint(post["description"])) == "" {
					t.Errorf("POST %s has no description (a comment on the rpc)", p)
				}
				noSideEffects := m.Options().(*descriptorpb.MethodOptions).GetIdempotencyLevel() == descriptorpb.MethodOptions_NO_SIDE_EFFECTS
				if hasGet := dig(paths, p, "get") != nil; hasGet != noSideEffects {
					t.Errorf("%s: GET described %v; want %v (NO_SIDE_EFFECTS)", p, hasGet, noSideEffects)
				}
			}
			var got []string
			for p := range paths {
				got = append(got, p)
			}
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("openapi.json paths %v; want the service's RPCs %v", got, want)
			}

			// The page: /api redirects to /api/, which lists every RPC with a curl
			// example addressed to this server, and links relatively.
			resp, err := client.Get(srv.url(bp.base + "api"))
			if err != nil {
				t.Fatal(err)
			}
			page, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != bp.base+"api/" {
				t.Fatalf("GET %sapi: %s at %s", bp.base, resp.Status, resp.Request.URL.Path)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("page Content-Type %q", ct)
			}
			html := string(page)
			for _, m := range serviceMethods(t) {
				for _, s := range []string{
					`id="` + string(m.Name()) + `"`,
					"POST " + srv.url(bp.base) + strings.TrimPrefix(apidocs.Procedure(m), "/"),
				} {
					if !strings.Contains(html, s) {
						t.Errorf("page lacks %q", s)
					}
				}
			}
			for _, s := range []string{`href="../openapi.json"`, "curl -sS", "<table>"} {
				if !strings.Contains(html, s) {
					t.Errorf("page lacks %q", s)
				}
			}
			if strings.Contains(html, "<script") || regexp.MustCompile(`(src|href)="https?:`).MatchString(html) {
				t.Error("the page loads something from elsewhere; it must work offline")
			}

			// --auth dev answers loopback host names only, the docs included.
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.url(bp.base+"openapi.json"), nil)
			req.Host = "rebind.example"
			resp, err = client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMisdirectedRequest {
				t.Errorf("openapi.json for another host: %s; want 421", resp.Status)
			}
		})
	}
}

// docsEnv is a real testingd (the real service, state file, fake GitHub and
// Jenkins) for checking the OpenAPI document against what the server does.
type docsEnv struct {
	url string // BASE, ending in /
	doc map[string]any
}

func newDocsEnv(t *testing.T, args ...string) *docsEnv {
	t.Helper()
	gh := fakegithub.New(t, fakegithub.WithPulls(
		fakegithub.PullSpec{Number: 13269, Title: "Fix the search page"},
		fakegithub.PullSpec{Number: 13270, Title: "Faster covers", Assignee: "someone"},
		fakegithub.PullSpec{Number: 7, Title: "Seven"},
	))
	jk := fakejenkins.New(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "_testing-prs.json")
	writeFile(t, state, `{"last_deploy_at": "", "prs": [{"pr": 7, "commit": "`+strings.Repeat("c", 40)+`", "active": true, "title": "Seven"}]}`)
	writeFile(t, filepath.Join(dir, "_dev-merged_status.txt"), "Switched to branch 'master'\n---\n"+
		"origin pull/7/head  # pinned at "+strings.Repeat("c", 40)+"\nMerge made by the 'ort' strategy.\n---\nComplete; dev-merged created (SHA: 4f2a9c1)\n")
	// A mirror for the deploy prediction, so GetConflictMatrix answers too.
	upstream := gittest.New(t)
	upstream.SetBranch("master", upstream.Commit("", map[string]string{"README": "hello\n"}, "base"))
	mirror := upstream.Mirror()
	srvURL := serveInProcess(t, append([]string{
		"--state-file", state, "--build-status-file", filepath.Join(dir, "_dev-merged_status.txt"),
		"--github-api-url", gh.URL + "/", "--jenkins-runs-url", jk.RunsURL(),
		"--jenkins-trigger-url", jk.TriggerURL(), "--base-path", "/status/v2/",
		"--git-dir", mirror,
	}, args...)...)
	e := &docsEnv{url: srvURL + "/status/v2/"}
	e.doc = getOpenAPI(t, http.DefaultClient, e.url+"openapi.json")
	// The mirror's first fetch runs in the background at start.
	waitMirrorFetched(t, upstream, mirror)
	return e
}

// waitMirrorFetched waits until the deploy prediction's mirror has fetched the base
// branch (into refs/testingd/, where gitmirror keeps what it fetched).
func waitMirrorFetched(t *testing.T, upstream *gittest.Repo, mirror string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for upstream.TryIn(mirror, "rev-parse", "--verify", "-q", "refs/testingd/base/master") != nil {
		if time.Now().After(deadline) {
			t.Fatal("the mirror never fetched the base branch")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// call sends one described operation's example request and returns the status and
// the (first) response message, unframed.
func (e *docsEnv) call(t *testing.T, method, path string, op map[string]any, header http.Header) (int, []byte) {
	t.Helper()
	var (
		req *http.Request
		err error
	)
	if method == http.MethodGet {
		param := dig(op, "parameters", "0").(map[string]any)
		if param["name"] != "message" {
			t.Fatalf("GET %s: first parameter %v; want message", path, param["name"])
		}
		msg, _ := json.Marshal(dig(param, "content", "application/json", "example"))
		q := url.Values{"encoding": {"json"}, "connect": {"v1"}, "message": {string(msg)}}
		req, err = http.NewRequestWithContext(t.Context(), method, e.url+strings.TrimPrefix(path, "/")+"?"+q.Encode(), nil)
	} else {
		content := dig(op, "requestBody", "content").(map[string]any)
		if len(content) != 1 {
			t.Fatalf("POST %s: %d request media types; want 1", path, len(content))
		}
		for mediaType, media := range content {
			body, _ := json.Marshal(media.(map[string]any)["example"])
			if mediaType == "application/connect+json" {
				body = envelope(0, body)
			}
			req, err = http.NewRequestWithContext(t.Context(), method, e.url+strings.TrimPrefix(path, "/"), bytes.NewReader(body))
			req.Header.Set("Content-Type", mediaType)
		}
		req.Header.Set("Connect-Protocol-Version", "1")
	}
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") == "application/connect+json" {
		// A stream: the first frame is what the test needs (a stream never ends).
		r := bufio.NewReader(resp.Body)
		var prefix [5]byte
		if _, err := io.ReadFull(r, prefix[:]); err != nil {
			t.Fatalf("%s %s: reading the first frame: %v", method, path, err)
		}
		msg := make([]byte, binary.BigEndian.Uint32(prefix[1:]))
		if _, err := io.ReadFull(r, msg); err != nil {
			t.Fatal(err)
		}
		if prefix[0]&2 != 0 {
			t.Fatalf("%s %s: the stream ended at once: %s", method, path, msg)
		}
		return resp.StatusCode, msg
	}
	body, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q; want application/json", method, path, ct)
	}
	return resp.StatusCode, body
}

func envelope(flags byte, msg []byte) []byte {
	out := make([]byte, 5, 5+len(msg))
	out[0] = flags
	binary.BigEndian.PutUint32(out[1:], uint32(len(msg)))
	return append(out, msg...)
}

// Every described operation, sent as described (its example, its headers, its GET
// form), answers 200 with JSON that fits the described response schema: no field
// the schema lacks, every value of the described type. The error object fits
// ConnectError.
func TestOpenAPIMatchesServer(t *testing.T) {
	t.Parallel()
	e := newDocsEnv(t)
	checker := &schemaChecker{doc: e.doc, seen: map[string]bool{}}
	// In proto order, so the writes have something to work on: AddPRs adds what
	// RemovePRs removes and RestorePRs restores.
	for _, m := range serviceMethods(t) {
		path := apidocs.Procedure(m)
		item, _ := dig(e.doc, "paths", path).(map[string]any)
		for _, method := range []string{http.MethodPost, http.MethodGet} {
			op, ok := item[strings.ToLower(method)].(map[string]any)
			if !ok {
				continue
			}
			status, body := e.call(t, method, path, op, nil)
			if status != http.StatusOK {
				t.Errorf("%s %s with the described example: %d %s", method, path, status, body)
				continue
			}
			schema := dig(op, "responses", "200", "content").(map[string]any)
			for _, media := range schema {
				if errs := checker.check(path, media.(map[string]any)["schema"], decode(t, body)); len(errs) > 0 {
					t.Errorf("%s %s: the response does not fit the described schema:\n%s\n%s", method, path, strings.Join(errs, "\n"), body)
				}
			}
		}
	}
	// The checks above would pass on empty answers: make sure they saw the nested
	// parts (rows, the plan, per-item results, events, build PRs).
	for _, s := range []string{"PullRequest", "PendingChange", "AddResult", "ItemResult", "Event", "BuildPullRequest", "GitHubStatus", "Viewer"} {
		if !checker.seen[s] {
			t.Errorf("no response had a %s to check", s)
		}
	}

	// An error, as described: a non-200 status and a ConnectError.
	path := "/" + testingv1connect.TestingServiceName + "/StagePRs"
	op := dig(e.doc, "paths", path, "post").(map[string]any)
	bad := map[string]any{"requestBody": map[string]any{"content": map[string]any{"application/json": map[string]any{"example": map[string]any{"numbers": []int{13269}}}}}}
	status, body := e.call(t, http.MethodPost, path, bad, nil)
	if status != http.StatusBadRequest {
		t.Errorf("StagePRs without a stage: %d; want 400", status)
	}
	errSchema := dig(e.doc, "components", "responses", "ConnectError", "content", "application/json", "schema")
	if dig(op, "responses", "default", "$ref") != "#/components/responses/ConnectError" {
		t.Errorf("StagePRs' default response is not ConnectError")
	}
	got := decode(t, body)
	if errs := checker.check("error", errSchema, got); len(errs) > 0 {
		t.Errorf("error body does not fit ConnectError: %v\n%s", errs, body)
	}
	if dig(got, "code") != "invalid_argument" {
		t.Errorf("error code %v; want invalid_argument", dig(got, "code"))
	}
}

// The access each operation is described with (x-testingd-access, security) is
// what the server enforces on a caller who is not signed in.
func TestOpenAPIAccess(t *testing.T) {
	t.Parallel()
	ol := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(ol.Close)
	key := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(key, []byte("not-a-real-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newDocsEnv(t, "--auth", "openlibrary", "--ol-secret-key-file", key, "--ol-url", ol.URL)
	for _, m := range serviceMethods(t) {
		path := apidocs.Procedure(m)
		op := dig(e.doc, "paths", path, "post").(map[string]any)
		public := op["x-testingd-access"] == "public"
		anonymousAllowed := false
		if sec, ok := op["security"].([]any); ok {
			for _, s := range sec {
				if len(s.(map[string]any)) == 0 {
					anonymousAllowed = true
				}
			}
		}
		if public != anonymousAllowed {
			t.Errorf("%s: x-testingd-access %v but security %v", path, op["x-testingd-access"], op["security"])
		}
		if m.IsStreamingServer() {
			continue // the stream's error comes in its last frame; the unary ones suffice
		}
		status, body := e.call(t, http.MethodPost, path, op, nil)
		if public && status != http.StatusOK {
			t.Errorf("%s is described as public, but anonymously: %d %s", path, status, body)
		}
		if !public && status != http.StatusUnauthorized {
			t.Errorf("%s is described as for maintainers, but anonymously: %d %s", path, status, body)
		}
	}
}

func decode(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	return v
}

// dig follows keys (decimal strings index arrays) into decoded JSON.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		switch c := v.(type) {
		case map[string]any:
			v = c[k]
		case []any:
			var i int
			if _, err := fmt.Sscan(k, &i); err != nil || i < 0 || i >= len(c) {
				return nil
			}
			v = c[i]
		default:
			return nil
		}
	}
	return v
}

// schemaChecker checks decoded JSON against the subset of JSON Schema the
// generator writes: $ref, type, properties (no others allowed), items,
// additionalProperties, enum, required, format date-time and int64, pattern.
type schemaChecker struct {
	doc  map[string]any
	seen map[string]bool // the component schemas some value was checked against
}

func (c *schemaChecker) check(at string, schema, v any) []string {
	s, ok := schema.(map[string]any)
	if !ok {
		return []string{at + ": no schema"}
	}
	if ref, ok := s["$ref"].(string); ok {
		name, found := strings.CutPrefix(ref, "#/components/schemas/")
		if !found {
			return []string{at + ": unexpected $ref " + ref}
		}
		c.seen[name] = true
		return c.check(at, dig(c.doc, "components", "schemas", name), v)
	}
	var errs []string
	fail := func(format string, args ...any) []string {
		return append(errs, at+": "+fmt.Sprintf(format, args...))
	}
	switch s["type"] {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return fail("%T; want an object", v)
		}
		props, _ := s["properties"].(map[string]any)
		for _, r := range asSlice(s["required"]) {
			if _, ok := obj[r.(string)]; !ok {
				errs = fail("required %q missing", r)
			}
		}
		for k, val := range obj {
			if p, ok := props[k]; ok {
				errs = append(errs, c.check(at+"."+k, p, val)...)
			} else if ap, ok := s["additionalProperties"]; ok {
				errs = append(errs, c.check(at+"."+k, ap, val)...)
			} else {
				errs = fail("field %q is not described", k)
			}
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return fail("%T; want an array", v)
		}
		for i, el := range arr {
			errs = append(errs, c.check(fmt.Sprintf("%s[%d]", at, i), s["items"], el)...)
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return fail("%T; want a string", v)
		}
		if enum := asSlice(s["enum"]); enum != nil && !slices.Contains(enum, any(str)) {
			errs = fail("%q is not one of %v", str, enum)
		}
		if s["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				errs = fail("%q is not an RFC 3339 time", str)
			}
		}
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(str) {
			errs = fail("%q does not match %s", str, p)
		}
	case "integer":
		n, ok := v.(float64)
		if !ok || n != math.Trunc(n) {
			return fail("%v; want an integer", v)
		}
	case "number":
		if _, ok := v.(float64); !ok {
			return fail("%v; want a number", v)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fail("%v; want a boolean", v)
		}
	case nil:
		// Any value (ConnectErrorDetail.debug).
	default:
		return fail("unknown schema type %v", s["type"])
	}
	return errs
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}
