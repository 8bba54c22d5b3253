package service

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"

	"connectrpc.com/connect"
)

var errCrossOrigin = errors.New("this change was sent from another site, so it was refused (a browser signed in to Open Library only makes changes from the testing page itself); " +
	"reload the testing page and make it there, or use a bearer token from a script")

// requestHostKey carries the request's Host (as the client addressed the server)
// in the context of every request served through OriginMiddleware.
type requestHostKey struct{}

// OriginMiddleware records each request's Host in its context, where crossOrigin
// finds it: Connect handlers see the request's headers but not its Host. Wrap the
// Connect handler with it; without it every browser request that carries an Origin
// but no Sec-Fetch-Site header counts as cross-origin.
func OriginMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestHostKey{}, r.Host)))
	})
}

// crossOrigin reports whether a request was sent by a browser on behalf of a page
// of another origin: the request a CSRF attack makes. It follows the rules of
// net/http's CrossOriginProtection (Go 1.25), applied per RPC rather than per HTTP
// request because only callers authenticated by something the browser attaches by
// itself (a cookie) need it:
//
//   - Sec-Fetch-Site, which every current browser sends and no page can forge, is
//     decisive: "same-origin" (the testing page) and "none" (typed in the address
//     bar, a bookmark) are fine; "same-site" (another *.openlibrary.org host),
//     "cross-site" and anything else are cross-origin;
//   - without it (older browsers), an Origin whose host:port is not the request's
//     Host is cross-origin, an Origin of "null" included;
//   - with neither, the request is not a browser's cross-origin one (curl, grpcurl,
//     the CLI, bots).
//
// The request's Host is what the browser addressed, so behind a proxy that rewrites
// Host, old browsers' writes are refused; current browsers never get that far.
func crossOrigin(ctx context.Context, h http.Header) bool {
	if site := h.Get("Sec-Fetch-Site"); site != "" {
		return site != "same-origin" && site != "none"
	}
	origin := h.Get("Origin")
	if origin == "" {
		return false
	}
	host, _ := ctx.Value(requestHostKey{}).(string)
	if host == "" {
		return true // cannot tell: refuse rather than guess
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return true
	}
	return !sameHostPort(u.Host, host, defaultPort(u.Scheme))
}

// sameHostPort compares two host[:port]s case-insensitively, a missing port being
// def (the origin's scheme's default: the browser connected there when Host has
// none).
func sameHostPort(a, b, def string) bool {
	ha, pa := splitHostPort(a, def)
	hb, pb := splitHostPort(b, def)
	return strings.EqualFold(ha, hb) && pa == pb
}

func splitHostPort(hostport, def string) (host, port string) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil { // no port
		return strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]"), def
	}
	return host, port
}

func defaultPort(scheme string) string {
	switch strings.ToLower(scheme) {
	case "http":
		return "80"
	case "https":
		return "443"
	}
	return ""
}

// requireWriter admits what requireMaintainer admits, except a write a browser sent
// on behalf of another site: every write RPC calls it instead of requireMaintainer.
//
// The check applies to every credential a browser attaches on its own: the session
// cookie, and in dev mode no credential at all (a page on any site could otherwise
// drive the testingd on a developer's loopback address). A bearer token is never
// attached by the browser, so a token caller is never refused here.
func (s *Server) requireWriter(ctx context.Context, h http.Header) (Viewer, error) {
	v, err := s.requireMaintainer(ctx, h)
	if err != nil {
		return v, err
	}
	if v.Method != MethodToken && crossOrigin(ctx, h) {
		s.logger.WarnContext(ctx, "cross-origin write refused", "user", v.Username, "method", v.Method,
			"origin", h.Get("Origin"), "sec_fetch_site", h.Get("Sec-Fetch-Site"))
		return v, connect.NewError(connect.CodePermissionDenied, errCrossOrigin)
	}
	return v, nil
}
