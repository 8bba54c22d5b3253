package service

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"connectrpc.com/connect"
)

func headers(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func withHost(host string) context.Context {
	return context.WithValue(context.Background(), requestHostKey{}, host)
}

func TestCrossOrigin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		host   string // the request's Host; "" = not recorded (no middleware)
		header http.Header
		want   bool
	}{
		{"no headers (curl, grpcurl, bots)", "testing.example.org", headers(), false},
		{"no headers, no middleware", "", headers(), false},

		{"Sec-Fetch-Site same-origin", "testing.example.org", headers("Sec-Fetch-Site", "same-origin"), false},
		{"Sec-Fetch-Site none (address bar)", "testing.example.org", headers("Sec-Fetch-Site", "none"), false},
		{"Sec-Fetch-Site same-site", "testing.example.org", headers("Sec-Fetch-Site", "same-site"), true},
		{"Sec-Fetch-Site cross-site", "testing.example.org", headers("Sec-Fetch-Site", "cross-site"), true},
		{"Sec-Fetch-Site unknown value", "testing.example.org", headers("Sec-Fetch-Site", "sideways"), true},
		{"Sec-Fetch-Site is decisive over Origin (same)", "testing.example.org", headers("Sec-Fetch-Site", "same-origin", "Origin", "https://evil.example"), false},
		{"Sec-Fetch-Site is decisive over Origin (cross)", "testing.example.org", headers("Sec-Fetch-Site", "cross-site", "Origin", "https://testing.example.org"), true},
		{"Sec-Fetch-Site same-origin, no middleware", "", headers("Sec-Fetch-Site", "same-origin", "Origin", "https://testing.example.org"), false},

		{"Origin matches", "testing.example.org", headers("Origin", "https://testing.example.org"), false},
		{"Origin matches with port", "127.0.0.1:8080", headers("Origin", "http://127.0.0.1:8080"), false},
		{"Origin matches, case differs", "Testing.Example.org", headers("Origin", "https://testing.example.ORG"), false},
		{"Origin default http port explicit in Host", "testing.example.org:80", headers("Origin", "http://testing.example.org"), false},
		{"Origin default https port explicit in Origin", "testing.example.org", headers("Origin", "https://testing.example.org:443"), false},
		{"Origin IPv6", "[::1]:8080", headers("Origin", "http://[::1]:8080"), false},
		{"Origin other port", "127.0.0.1:8080", headers("Origin", "http://127.0.0.1:8081"), true},
		{"Origin no port, Host with port", "127.0.0.1:8080", headers("Origin", "http://127.0.0.1"), true},
		{"Origin https default port, Host on 80", "testing.example.org:80", headers("Origin", "https://testing.example.org"), true},
		{"Origin other host", "testing.example.org", headers("Origin", "https://evil.example"), true},
		{"Origin sibling subdomain", "testing.example.org", headers("Origin", "https://example.org"), true},
		{"Origin suffix trick", "testing.example.org", headers("Origin", "https://testing.example.org.evil.example"), true},
		{"Origin null (sandboxed page)", "testing.example.org", headers("Origin", "null"), true},
		{"Origin garbage", "testing.example.org", headers("Origin", "://x"), true},
		{"Origin without middleware", "", headers("Origin", "https://testing.example.org"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			if tt.host != "" {
				ctx = withHost(tt.host)
			}
			if got := crossOrigin(ctx, tt.header); got != tt.want {
				t.Errorf("crossOrigin = %v; want %v", got, tt.want)
			}
		})
	}
}

// The middleware records the Host a real request was sent to.
func TestOriginMiddleware(t *testing.T) {
	t.Parallel()
	var (
		mu  sync.Mutex
		got []bool
	)
	srv := httptest.NewServer(OriginMiddleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, crossOrigin(r.Context(), r.Header))
	})))
	t.Cleanup(srv.Close)
	for _, origin := range []string{srv.URL, "http://evil.example"} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", origin)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0] || !got[1] {
		t.Errorf("cross-origin = %v; want [false true] (own origin, then another)", got)
	}
}

// viewerAuth authenticates every request as one viewer, or fails.
type viewerAuth struct {
	v   Viewer
	err error
}

func (a viewerAuth) Authenticate(context.Context, http.Header) (Viewer, error) { return a.v, a.err }
func (viewerAuth) Mode() string                                                { return "test" }

func TestRequireWriter(t *testing.T) {
	t.Parallel()
	var (
		cookie = Viewer{Username: "openlibrary", SignedIn: true, Maintainer: true, Method: MethodCookie}
		token  = Viewer{Username: "ci-bot", SignedIn: true, Maintainer: true, Method: MethodToken}
		dev    = Viewer{Username: "dev", SignedIn: true, Maintainer: true, Method: MethodDev}
		reader = Viewer{Username: "reader", SignedIn: true, Method: MethodCookie}

		sameOrigin = headers("Sec-Fetch-Site", "same-origin", "Origin", "https://testing.example.org")
		crossSite  = headers("Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
		oldBrowser = headers("Origin", "https://evil.example")
		noBrowser  = headers()
	)
	tests := []struct {
		name   string
		auth   viewerAuth
		header http.Header
		want   connect.Code // 0 = allowed
	}{
		{"cookie, same origin", viewerAuth{v: cookie}, sameOrigin, 0},
		{"cookie, no browser headers", viewerAuth{v: cookie}, noBrowser, 0},
		{"cookie, cross-site", viewerAuth{v: cookie}, crossSite, connect.CodePermissionDenied},
		{"cookie, old browser, other origin", viewerAuth{v: cookie}, oldBrowser, connect.CodePermissionDenied},
		{"cookie, same-site", viewerAuth{v: cookie}, headers("Sec-Fetch-Site", "same-site"), connect.CodePermissionDenied},
		{"token, cross-site", viewerAuth{v: token}, crossSite, 0},
		{"dev, same origin", viewerAuth{v: dev}, sameOrigin, 0},
		{"dev, cross-site", viewerAuth{v: dev}, crossSite, connect.CodePermissionDenied},
		{"not signed in, cross-site", viewerAuth{}, crossSite, connect.CodeUnauthenticated},
		{"not a maintainer, same origin", viewerAuth{v: reader}, sameOrigin, connect.CodePermissionDenied},
		{"auth unavailable", viewerAuth{err: errors.New("open library down")}, sameOrigin, connect.CodeUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := &Server{auth: tt.auth, logger: slog.New(slog.DiscardHandler)}
			v, err := s.requireWriter(withHost("testing.example.org"), tt.header)
			if tt.want == 0 {
				if err != nil || v != tt.auth.v {
					t.Errorf("requireWriter = %+v, %v; want %+v", v, err, tt.auth.v)
				}
				return
			}
			if connect.CodeOf(err) != tt.want {
				t.Errorf("requireWriter = %v; want %v", err, tt.want)
			}
		})
	}
}
