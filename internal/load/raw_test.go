package load

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/internetarchive/testingd/gen/openlibrary/testing/v1/testingv1connect"
)

// A raw call is a real Connect call (a connect-go handler answers it, gzip-compressed
// when accepted) whose answer is read, not decoded; failures are the status, the type
// and an empty body.
func TestRawCall(t *testing.T) {
	t.Parallel()
	svc := &fakeService{changed: make(chan struct{})}
	mux := http.NewServeMux()
	var lastEncoding string
	path, h := testingv1connect.NewTestingServiceHandler(svc, connect.WithCompressMinBytes(1))
	mux.Handle(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		lastEncoding = w.Header().Get("Content-Encoding")
	}))
	mux.HandleFunc("/bad/", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/GetBuildResult"):
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<html>"))
		case strings.HasSuffix(r.URL.Path, "/GetServerInfo"):
			w.Header().Set("Content-Type", "application/json")
		default:
			http.Error(w, "nope", http.StatusServiceUnavailable)
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	hc := NewHTTPClient(1)

	for _, enc := range []Encoding{
		{Codec: CodecJSON, Gzip: true, Raw: true},
		{Codec: CodecJSON, Raw: true},
		{Codec: CodecProto, Raw: true},
	} {
		call, err := NewRawCall(hc, srv.URL, enc, "GetStatus")
		if err != nil {
			t.Fatal(err)
		}
		if err := call(t.Context()); err != nil {
			t.Errorf("%s: %v", enc, err)
		}
		if want := map[bool]string{true: "gzip", false: ""}[enc.Gzip]; lastEncoding != want {
			t.Errorf("%s: answered with Content-Encoding %q, want %q", enc, lastEncoding, want)
		}
	}
	enc := Encoding{Codec: CodecJSON, Raw: true}
	for rpc, want := range map[string]string{
		"GetStatus":      "HTTP 503",
		"GetBuildResult": `answer of type "text/html"`,
		"GetServerInfo":  "empty answer",
	} {
		call, err := NewRawCall(hc, srv.URL+"/bad", enc, rpc)
		if err != nil {
			t.Fatal(err)
		}
		if err := call(t.Context()); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; want %q", rpc, err, want)
		}
	}
	if _, err := NewRawCall(hc, srv.URL, enc, "Deploy"); err == nil {
		t.Error("a raw Deploy call was made")
	}
	if got := (Encoding{Codec: CodecJSON, Gzip: true, Raw: true}).String(); got != "json + gzip, bytes read undecoded" {
		t.Errorf("String() = %q", got)
	}
}
