package main

import (
	"net/http"
	"strings"

	"github.com/internetarchive/testingd/apidocs"
)

// registerAPIDocs serves the API description under base:
//
//	BASE/openapi.json   the OpenAPI 3.1 document of the Connect JSON routes
//	BASE/api/           a plain HTML page: every RPC, its fields, a curl example
//
// Both are public, as the proto they come from is.
func registerAPIDocs(mux *http.ServeMux, base string) {
	docs, err := apidocs.New(base)
	if err != nil {
		// Only a broken build gets here (the embedded document is checked by the
		// tests); answer so rather than take the whole server down.
		mux.HandleFunc("GET "+base+"openapi.json", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "API docs unavailable: "+err.Error(), http.StatusInternalServerError)
		})
		return
	}
	mux.HandleFunc("GET "+base+"openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(docs.OpenAPI())
	})
	mux.HandleFunc("GET "+base+"api/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		if err := docs.WritePage(w, requestOrigin(r)); err != nil {
			http.Error(w, "cannot render the API page", http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("GET "+base+"api", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "api/", http.StatusMovedPermanently)
	})
}

// requestOrigin is the scheme and host the client used, for the page's examples:
// https when the connection or the proxy in front (X-Forwarded-Proto) says so.
func requestOrigin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
