// Package webui serves testingd's web UI: the built bundle in dist/ (see
// build.mjs), embedded into the binary so that one file is the whole deployment.
package webui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed all:dist
var dist embed.FS

// hashed matches the bundle's content-hashed files ("assets/app-0123456789ab.js"):
// their name changes with their content, so they may be cached for good.
var hashed = regexp.MustCompile(`^assets/[A-Za-z0-9_.-]+-[0-9a-f]{8,}\.[A-Za-z0-9]+$`)

// encodings are the precompressed siblings build.mjs writes, best first.
var encodings = []struct{ name, ext string }{{"br", ".br"}, {"gzip", ".gz"}}

// variant is one representation of a file: identity, or one encoding of it.
type variant struct {
	content []byte
	etag    string
}

// file is one embedded file, read once, with its precompressed variants.
type file struct {
	variant
	encoded map[string]variant // by encoding name
}

func newVariant(b []byte) variant {
	sum := sha256.Sum256(b)
	return variant{content: b, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`}
}

var files = sync.OnceValue(func() map[string]*file {
	root, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // the embed directive guarantees dist exists
	}
	raw := map[string][]byte{}
	err = fs.WalkDir(root, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(root, name)
		raw[name] = b
		return err
	})
	if err != nil {
		panic(err) // reading an embed.FS does not fail
	}
	m := make(map[string]*file)
	for name, b := range raw {
		if strings.HasSuffix(name, ".gz") || strings.HasSuffix(name, ".br") {
			continue // a variant, not a file of its own
		}
		f := &file{variant: newVariant(b), encoded: map[string]variant{}}
		for _, e := range encodings {
			if eb, ok := raw[name+e.ext]; ok {
				f.encoded[e.name] = newVariant(eb)
			}
		}
		m[name] = f
	}
	return m
})

// Handler serves the UI at "/" (mount it behind http.StripPrefix to serve it
// under a base path):
//   - "/" and "/index.html" serve index.html;
//   - an existing file is served as is;
//   - any other path without a file extension is a route of the single-page
//     app and serves index.html, with a relative <base href> that points back at
//     the UI's root, so that its relative asset URLs (and the API URL the app
//     derives from document.baseURI) still resolve on a deep link;
//   - any other path with an extension (a missing asset) is 404.
//
// Content-hashed assets are cached for a year ("immutable"); everything else is
// "no-cache" with an ETag, so a new index.html is picked up at once and never
// mixed with an old script. A precompressed variant (br, then gzip) is served
// when Accept-Encoding allows it.
func Handler() http.Handler {
	return http.HandlerFunc(serve)
}

func serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	clean := path.Clean("/" + r.URL.Path)
	name := strings.TrimPrefix(clean, "/")
	if name == "" {
		name = "index.html"
	}
	f, ok := files()[name]
	if !ok {
		if path.Ext(name) != "" {
			http.NotFound(w, r)
			return
		}
		// Climb from the route's directory back to the UI's root: one "../" per
		// directory below it ("/prs/123" is in "/prs/", "/events/" is one too).
		up := strings.Count(clean, "/") - 1
		if strings.HasSuffix(r.URL.Path, "/") {
			up++
		}
		serveRoute(w, r, up)
		return
	}
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Vary", "Accept-Encoding")
	if hashed.MatchString(name) {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	v := f.variant
	for _, e := range encodings {
		if ev, ok := f.encoded[e.name]; ok && accepts(r.Header.Get("Accept-Encoding"), e.name) {
			v = ev
			h.Set("Content-Encoding", e.name)
			break
		}
	}
	h.Set("ETag", v.etag)
	// ServeContent answers If-None-Match and Range requests; the Content-Type is
	// the original file's, set here because the name alone would not tell it
	// once the body is encoded.
	h.Set("Content-Type", contentType(name))
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(v.content))
}

// serveRoute serves index.html for a route of the app that is up directories
// below the UI's root, with a <base href> that climbs back there ("../").
func serveRoute(w http.ResponseWriter, r *http.Request, up int) {
	index, ok := files()["index.html"]
	if !ok {
		http.NotFound(w, r)
		return
	}
	body := index.content
	if up > 0 {
		tag := []byte(`<head><base href="` + strings.Repeat("../", up) + `">`)
		body = bytes.Replace(body, []byte("<head>"), tag, 1)
	}
	h := w.Header()
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Vary", "Accept-Encoding")
	h.Set("Content-Type", "text/html; charset=utf-8")
	v := newVariant(body)
	if accepts(r.Header.Get("Accept-Encoding"), "gzip") {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // a valid level: no error
		_, _ = zw.Write(body)
		_ = zw.Close()
		v = newVariant(buf.Bytes())
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("ETag", v.etag)
	http.ServeContent(w, r, "index.html", time.Time{}, bytes.NewReader(v.content))
}

// accepts reports whether an Accept-Encoding header allows coding: named (or
// "*") with a q-value above zero.
func accepts(header, coding string) bool {
	star := false
	for part := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if name != coding && name != "*" {
			continue
		}
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
		}
		if name == coding {
			return q > 0 // an explicit entry wins over "*"
		}
		star = q > 0
	}
	return star
}

// contentType is the Content-Type of a file of the bundle, by extension.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".json":
		return "application/json"
	case ".png":
		return "image/png"
	}
	return "application/octet-stream"
}
