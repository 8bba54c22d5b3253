// Package webui serves testingd's web UI: the built bundle in dist/,
// embedded into the binary so that one file is the whole deployment.
package webui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

//go:embed all:dist
var dist embed.FS

// file is one embedded file, read once.
type file struct {
	content []byte
	etag    string
}

var files = sync.OnceValue(func() map[string]file {
	root, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // the embed directive guarantees dist exists
	}
	m := make(map[string]file)
	err = fs.WalkDir(root, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(root, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		m[name] = file{content: b, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`}
		return nil
	})
	if err != nil {
		panic(err) // reading an embed.FS does not fail
	}
	return m
})

// Handler serves the UI at "/" (mount it behind http.StripPrefix to serve it
// under a base path):
//   - "/" and "/index.html" serve index.html;
//   - an existing file is served as is;
//   - any other path without a file extension is a route of the single-page
//     app and serves index.html, so that reloading a deep link works;
//   - any other path with an extension (a missing asset) is 404.
//
// Every response carries "Cache-Control: no-cache" and a content ETag: the
// bundle's file names carry no content hash, so a browser must revalidate
// (a cheap 304) to never mix a new index.html with an old script.
func Handler() http.Handler {
	return http.HandlerFunc(serve)
}

func serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if name == "" {
		name = "index.html"
	}
	f, ok := files()[name]
	if !ok {
		if path.Ext(name) != "" {
			http.NotFound(w, r)
			return
		}
		name = "index.html"
		f, ok = files()[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
	}
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("ETag", f.etag)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	// ServeContent sets Content-Type from the extension and answers
	// If-None-Match and Range requests.
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.content))
}
