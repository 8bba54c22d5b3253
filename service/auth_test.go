package service_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/integrations/openlibrary"
	"github.com/internetarchive/testingd/internal/fakeopenlibrary"
	"github.com/internetarchive/testingd/service"
)

const (
	olSecret = "xxx"
	// The token of the tokens file the auth tests start with, named "ci-bot".
	ciToken = "tr_ci_0123456789abcdef"
)

// sessionCookie is the Cookie header of an Open Library session of user, signed
// with secret, URL-encoded as the browser sends it.
func sessionCookie(user, secret string) string {
	return "session=" + url.QueryEscape(openlibrary.SignSession(user, "2026-01-18T17:25:46", "7897f", []byte(secret)))
}

// olEnv is an env whose server runs --auth openlibrary against a fake Open Library
// (the fixture's maintainers: openlibrary, mekarpeles) with a tokens file.
type olEnv struct {
	*env
	ol     *fakeopenlibrary.Server
	tokens string // path of the tokens file
}

func newOLEnv(t *testing.T) *olEnv {
	t.Helper()
	ol := fakeopenlibrary.New(t)
	tokensPath := filepath.Join(t.TempDir(), "tokens")
	writeTokens(t, tokensPath, "# bots\nci-bot "+openlibrary.HashToken(ciToken)+"\n")
	tokens, err := openlibrary.OpenTokens(tokensPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := ol.Client()
	client.Timeout = 2 * time.Second
	groups, err := openlibrary.NewGroups(ol.URL, client, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := service.NewOpenLibraryAuth(service.OpenLibraryAuthOptions{
		Secret:           []byte(olSecret),
		Groups:           groups,
		MaintainerGroups: []string{"maintainers", "admin"},
		Tokens:           tokens,
	})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOptions{state: "testing-prs.json", transcript: "dev-merged-status.txt", auth: auth})
	e.seedFixturePRs()
	return &olEnv{env: e, ol: ol, tokens: tokensPath}
}

func writeTokens(t *testing.T, path, data string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// withHeaders returns a request carrying the headers (name, value pairs).
func withHeaders[T any](msg *T, kv ...string) *connect.Request[T] {
	req := connect.NewRequest(msg)
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header().Add(kv[i], kv[i+1])
	}
	return req
}

func TestOpenLibraryAuthAccess(t *testing.T) {
	t.Parallel()
	maintainer := sessionCookie("openlibrary", olSecret)
	tests := []struct {
		name    string
		headers []string
		status  connect.Code // of GetStatus; 0 = OK
		viewer  *testingv1.Viewer
	}{
		{"no credentials", nil, connect.CodeUnauthenticated, &testingv1.Viewer{}},
		{"maintainer cookie", []string{"Cookie", maintainer}, 0,
			&testingv1.Viewer{Username: "openlibrary", SignedIn: true, Maintainer: true}},
		{"maintainer cookie, raw value, among others", []string{"Cookie", "pd=1; session=" + openlibrary.SignSession("mekarpeles", "t", "s", []byte(olSecret)) + "; theme=dark"}, 0,
			&testingv1.Viewer{Username: "mekarpeles", SignedIn: true, Maintainer: true}},
		{"admin cookie", []string{"Cookie", sessionCookie("root", olSecret)}, 0,
			&testingv1.Viewer{Username: "root", SignedIn: true, Maintainer: true}},
		{"reader cookie", []string{"Cookie", sessionCookie("reader", olSecret)}, connect.CodePermissionDenied,
			&testingv1.Viewer{Username: "reader", SignedIn: true}},
		{"forged cookie", []string{"Cookie", "session=%2Fpeople%2Fopenlibrary%2C2026-01-18T17%3A25%3A46%2C7897f%24841a3bd2f8e9a5ca46f505fa557d57be"},
			connect.CodeUnauthenticated, &testingv1.Viewer{}},
		{"cookie of another secret", []string{"Cookie", sessionCookie("openlibrary", "yyy")}, connect.CodeUnauthenticated, &testingv1.Viewer{}},
		{"forged cookie first, valid one second", []string{"Cookie", sessionCookie("openlibrary", "yyy") + "; " + maintainer}, 0,
			&testingv1.Viewer{Username: "openlibrary", SignedIn: true, Maintainer: true}},
		{"cookie of another name", []string{"Cookie", "sess=" + maintainer[len("session="):]}, connect.CodeUnauthenticated, &testingv1.Viewer{}},
		{"bearer token", []string{"Authorization", "Bearer " + ciToken}, 0,
			&testingv1.Viewer{Username: "ci-bot", SignedIn: true, Maintainer: true}},
		{"bearer token, lower-case scheme", []string{"Authorization", "bearer " + ciToken}, 0,
			&testingv1.Viewer{Username: "ci-bot", SignedIn: true, Maintainer: true}},
		{"unknown token", []string{"Authorization", "Bearer nope"}, connect.CodeUnauthenticated, &testingv1.Viewer{}},
		// A presented token decides alone: a failed one does not fall back to the cookie.
		{"unknown token with a maintainer cookie", []string{"Authorization", "Bearer nope", "Cookie", maintainer}, connect.CodeUnauthenticated, &testingv1.Viewer{}},
		// Another scheme (a proxy's Basic auth) plays no part.
		{"basic auth with a maintainer cookie", []string{"Authorization", "Basic dXNlcjpwYXNz", "Cookie", maintainer}, 0,
			&testingv1.Viewer{Username: "openlibrary", SignedIn: true, Maintainer: true}},
	}
	e := newOLEnv(t)
	e.ol.SetMembers("admin", "root")
	for _, tt := range tests {
		for protocol, client := range e.clients() {
			t.Run(tt.name+"/"+protocol, func(t *testing.T) {
				t.Parallel()
				_, err := client.GetStatus(t.Context(), withHeaders(&testingv1.GetStatusRequest{}, tt.headers...))
				if connect.CodeOf(err) != tt.status && (err != nil || tt.status != 0) {
					t.Errorf("GetStatus = %v; want code %v", err, tt.status)
				}
				// The public parts stay public, whoever asks.
				if _, err := client.GetBuildResult(t.Context(), withHeaders(&testingv1.GetBuildResultRequest{}, tt.headers...)); err != nil {
					t.Errorf("GetBuildResult = %v; want it public", err)
				}
				info, err := client.GetServerInfo(t.Context(), withHeaders(&testingv1.GetServerInfoRequest{}, tt.headers...))
				if err != nil {
					t.Fatalf("GetServerInfo = %v", err)
				}
				want := proto.CloneOf(tt.viewer)
				want.AuthMode = "openlibrary"
				if diff := cmp.Diff(want, info.Msg.Viewer, protocmp.Transform()); diff != "" {
					t.Errorf("viewer (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// Open Library unreachable: a cookie cannot be checked, so the answer is
// UNAVAILABLE, never access. Callers who need no usergroup are not affected.
func TestOpenLibraryAuthUnavailable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		breakOL func(*fakeopenlibrary.Server)
	}{
		{"5xx", func(ol *fakeopenlibrary.Server) { ol.FailAll(http.StatusBadGateway) }},
		{"garbage", func(ol *fakeopenlibrary.Server) { ol.Garbage(true) }},
		{"timeout", func(ol *fakeopenlibrary.Server) { ol.SetLatency(5 * time.Second) }},
		{"down", func(ol *fakeopenlibrary.Server) { ol.Close() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newOLEnv(t)
			tt.breakOL(e.ol)
			for protocol, client := range e.clients() {
				_, err := client.GetStatus(t.Context(), withHeaders(&testingv1.GetStatusRequest{}, "Cookie", sessionCookie("openlibrary", olSecret)))
				if connect.CodeOf(err) != connect.CodeUnavailable {
					t.Errorf("%s: maintainer cookie, OL down: GetStatus = %v; want UNAVAILABLE", protocol, err)
				}
				_, err = client.GetStatus(t.Context(), withHeaders(&testingv1.GetStatusRequest{}, "Cookie", sessionCookie("reader", olSecret)))
				if connect.CodeOf(err) != connect.CodeUnavailable {
					t.Errorf("%s: reader cookie, OL down: GetStatus = %v; want UNAVAILABLE", protocol, err)
				}
				// A token, an anonymous caller and a forged cookie never ask Open Library.
				if _, err := client.GetStatus(t.Context(), withHeaders(&testingv1.GetStatusRequest{}, "Authorization", "Bearer "+ciToken)); err != nil {
					t.Errorf("%s: token, OL down: GetStatus = %v; want OK", protocol, err)
				}
				_, err = client.GetStatus(t.Context(), withHeaders(&testingv1.GetStatusRequest{}, "Cookie", sessionCookie("openlibrary", "yyy")))
				if connect.CodeOf(err) != connect.CodeUnauthenticated {
					t.Errorf("%s: forged cookie, OL down: GetStatus = %v; want UNAUTHENTICATED", protocol, err)
				}
				if _, err := client.GetServerInfo(t.Context(), connect.NewRequest(&testingv1.GetServerInfoRequest{})); err != nil {
					t.Errorf("%s: anonymous, OL down: GetServerInfo = %v; want OK", protocol, err)
				}
			}
		})
	}
}

// A token deleted from the tokens file stops working at the next request.
func TestTokenRevoked(t *testing.T) {
	t.Parallel()
	e := newOLEnv(t)
	const other = "tr_cli_fedcba9876543210"
	writeTokens(t, e.tokens, "ci-bot "+openlibrary.HashToken(ciToken)+"\ncli-mek "+openlibrary.HashToken(other)+"\n")
	call := func(token string) error {
		var errs []error
		for protocol, client := range e.clients() {
			if _, err := client.GetStatus(t.Context(), withHeaders(&testingv1.GetStatusRequest{}, "Authorization", "Bearer "+token)); err != nil {
				errs = append(errs, errors.New(protocol+": "+err.Error()))
				if connect.CodeOf(err) != connect.CodeUnauthenticated {
					t.Errorf("%s: %v; want OK or UNAUTHENTICATED", protocol, err)
				}
			}
		}
		return errors.Join(errs...)
	}
	if err := call(ciToken); err != nil {
		t.Fatalf("ci-bot before revocation: %v", err)
	}
	if err := call(other); err != nil {
		t.Fatalf("cli-mek before revocation: %v", err)
	}
	writeTokens(t, e.tokens, "cli-mek "+openlibrary.HashToken(other)+"\n")
	if err := call(ciToken); err == nil {
		t.Error("ci-bot still works after it was removed from the tokens file")
	}
	if err := call(other); err != nil {
		t.Errorf("cli-mek after another token's revocation: %v", err)
	}
}

// Usergroups are read once per TTL, however many requests need them.
func TestUsergroupLookupsCached(t *testing.T) {
	t.Parallel()
	e := newOLEnv(t)
	var wg sync.WaitGroup
	for range 10 {
		for protocol, client := range e.clients() {
			wg.Go(func() {
				for _, user := range []string{"openlibrary", "mekarpeles", "reader"} {
					_, err := client.GetStatus(t.Context(), withHeaders(&testingv1.GetStatusRequest{}, "Cookie", sessionCookie(user, olSecret)))
					if err != nil && connect.CodeOf(err) != connect.CodePermissionDenied {
						t.Errorf("%s: %s: %v", protocol, user, err)
					}
				}
			})
		}
	}
	wg.Wait()
	if n, m := e.ol.Count("maintainers"), e.ol.Count("admin"); n != 1 || m != 1 {
		t.Errorf("Open Library asked %d times for maintainers and %d for admin in 60 requests; want once each", n, m)
	}
}

// In dev mode tokens work too, and a bad one is refused rather than made "dev".
func TestDevAuthWithTokens(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tokens")
	writeTokens(t, path, "ci-bot "+openlibrary.HashToken(ciToken)+"\n")
	tokens, err := openlibrary.OpenTokens(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOptions{state: "testing-prs.json", transcript: "dev-merged-status.txt", auth: service.WithTokens(service.DevAuth{}, tokens)})
	e.seedFixturePRs()
	tests := []struct {
		name    string
		headers []string
		status  connect.Code
		viewer  *testingv1.Viewer
	}{
		{"no credentials", nil, 0, &testingv1.Viewer{Username: "dev", SignedIn: true, Maintainer: true, AuthMode: "dev"}},
		{"token", []string{"Authorization", "Bearer " + ciToken}, 0, &testingv1.Viewer{Username: "ci-bot", SignedIn: true, Maintainer: true, AuthMode: "dev"}},
		{"unknown token", []string{"Authorization", "Bearer x"}, connect.CodeUnauthenticated, &testingv1.Viewer{AuthMode: "dev"}},
	}
	for _, tt := range tests {
		for protocol, client := range e.clients() {
			_, err := client.GetStatus(t.Context(), withHeaders(&testingv1.GetStatusRequest{}, tt.headers...))
			if connect.CodeOf(err) != tt.status && (err != nil || tt.status != 0) {
				t.Errorf("%s/%s: GetStatus = %v; want %v", tt.name, protocol, err, tt.status)
			}
			info, err := client.GetServerInfo(t.Context(), withHeaders(&testingv1.GetServerInfoRequest{}, tt.headers...))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.viewer, info.Msg.Viewer, protocmp.Transform()); diff != "" {
				t.Errorf("%s/%s: viewer (-want +got):\n%s", tt.name, protocol, diff)
			}
		}
	}
}

// membership is a Membership with a fixed answer.
type membership struct {
	member bool
	err    error
}

func (m membership) IsMember(context.Context, string, []string) (bool, error) { return m.member, m.err }

// tokenList is a TokenLookup of fixed tokens.
type tokenList map[string]string

func (l tokenList) Lookup(token string) (string, bool) { name, ok := l[token]; return name, ok }

func TestOpenLibraryAuthMethod(t *testing.T) {
	t.Parallel()
	cookie := sessionCookie("openlibrary", olSecret)
	down := errors.New("down")
	tests := []struct {
		name    string
		member  membership
		tokens  service.TokenLookup
		headers []string
		want    service.Viewer
		wantErr bool
	}{
		{"cookie, member", membership{member: true}, nil, []string{"Cookie", cookie},
			service.Viewer{Username: "openlibrary", SignedIn: true, Maintainer: true, Method: service.MethodCookie}, false},
		{"cookie, not a member", membership{}, nil, []string{"Cookie", cookie},
			service.Viewer{Username: "openlibrary", SignedIn: true, Method: service.MethodCookie}, false},
		{"cookie, OL down", membership{err: down}, nil, []string{"Cookie", cookie}, service.Viewer{}, true},
		{"token", membership{err: down}, tokenList{"t": "bot"}, []string{"Authorization", "Bearer t"},
			service.Viewer{Username: "bot", SignedIn: true, Maintainer: true, Method: service.MethodToken}, false},
		{"token without a tokens file", membership{}, nil, []string{"Authorization", "Bearer t"}, service.Viewer{}, false},
		{"empty bearer", membership{}, tokenList{"": "bot"}, []string{"Authorization", "Bearer "}, service.Viewer{}, false},
		{"nothing", membership{err: down}, nil, nil, service.Viewer{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, err := service.NewOpenLibraryAuth(service.OpenLibraryAuthOptions{
				Secret: []byte(olSecret), Groups: tt.member, MaintainerGroups: []string{"maintainers"}, Tokens: tt.tokens,
			})
			if err != nil {
				t.Fatal(err)
			}
			h := http.Header{}
			for i := 0; i+1 < len(tt.headers); i += 2 {
				h.Add(tt.headers[i], tt.headers[i+1])
			}
			got, err := a.Authenticate(t.Context(), h)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("Authenticate = %+v, %v; want %+v (error %v)", got, err, tt.want, tt.wantErr)
			}
			if a.Mode() != "openlibrary" {
				t.Errorf("Mode = %q", a.Mode())
			}
		})
	}
}

func TestNewOpenLibraryAuthRefuses(t *testing.T) {
	t.Parallel()
	ok := service.OpenLibraryAuthOptions{Secret: []byte("s"), Groups: membership{}, MaintainerGroups: []string{"maintainers"}}
	tests := []struct {
		name   string
		change func(*service.OpenLibraryAuthOptions)
	}{
		{"empty secret", func(o *service.OpenLibraryAuthOptions) { o.Secret = nil }},
		{"no groups client", func(o *service.OpenLibraryAuthOptions) { o.Groups = nil }},
		{"no maintainer groups", func(o *service.OpenLibraryAuthOptions) { o.MaintainerGroups = nil }},
	}
	if _, err := service.NewOpenLibraryAuth(ok); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		o := ok
		tt.change(&o)
		if _, err := service.NewOpenLibraryAuth(o); err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
}
