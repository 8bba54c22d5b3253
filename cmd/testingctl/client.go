package main

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"connectrpc.com/connect"

	"github.com/internetarchive/testingd/gen/openlibrary/testing/v1/testingv1connect"
)

const defaultServer = "http://127.0.0.1:8080"

// Protocols --protocol accepts.
const (
	protocolConnect = "connect"
	protocolGRPC    = "grpc"
)

// conn is where and how to reach testingd.
type conn struct {
	baseURL  string // scheme://host[:port][/base/path], no trailing slash
	protocol string
	token    string
}

// normalizeServer accepts "http://host:port", "https://host/status/v2/" or a bare
// "host:port" (http is assumed) and returns the base URL the generated client wants:
// no trailing slash, no query.
func normalizeServer(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", usageErrorf("--server is empty: give testingd's URL, e.g. %s or https://HOST/status/v2/", defaultServer)
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "", usageErrorf("--server %q is not a URL: give testingd's URL, e.g. %s or https://HOST/status/v2/", raw, defaultServer)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", usageErrorf("--server %q: the scheme must be http or https", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", usageErrorf("--server %q: give only scheme, host and base path (the token goes in TESTINGCTL_TOKEN)", raw)
	}
	return u.Scheme + "://" + u.Host + strings.TrimRight(u.EscapedPath(), "/"), nil
}

// client builds the generated client for c.
func (c conn) client() testingv1connect.TestingServiceClient {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	var protocols http.Protocols
	switch {
	case c.protocol == protocolGRPC && strings.HasPrefix(c.baseURL, "http://"):
		protocols.SetUnencryptedHTTP2(true) // gRPC needs HTTP/2: h2c in the clear
	case c.protocol == protocolGRPC:
		protocols.SetHTTP2(true)
	default:
		protocols.SetHTTP1(true)
		protocols.SetHTTP2(true)
	}
	transport.Protocols = &protocols
	// No client timeout: watch streams for as long as it runs; unary calls are
	// bounded by --timeout through their context.
	hc := &http.Client{Transport: &bearer{base: transport, token: c.token}}
	var opts []connect.ClientOption
	if c.protocol == protocolGRPC {
		opts = append(opts, connect.WithGRPC())
	}
	return testingv1connect.NewTestingServiceClient(hc, c.baseURL, opts...)
}

// insecureTokenWarning says when the token would cross the network unencrypted;
// "" when it stays on this machine or goes over https.
func (c conn) insecureTokenWarning() string {
	if c.token == "" || strings.HasPrefix(c.baseURL, "https://") {
		return ""
	}
	u, err := url.Parse(c.baseURL)
	if err != nil {
		return ""
	}
	host := u.Hostname()
	if host == "localhost" {
		return ""
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return ""
	}
	return fmt.Sprintf("warning: sending TESTINGCTL_TOKEN unencrypted to %s; use an https:// --server", u.Host)
}

// bearer adds "Authorization: Bearer TOKEN" (as testingd's service/auth.go reads it)
// to every request when there is a token.
type bearer struct {
	base  http.RoundTripper
	token string
}

func (b *bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	if b.token == "" {
		return b.base.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.base.RoundTrip(r)
}
