// Package apidocs describes the TestingService's Connect JSON API to people and
// tools: the OpenAPI document generated from the proto comments (openapi.json,
// written by `make generate`, see internal/openapigen) and a plain HTML page made
// from it and the service's descriptors. Nothing here calls out: the page has no
// script and no outside stylesheet.
package apidocs

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
)

//go:embed openapi.json
var openapiJSON []byte

// Docs is the API description for a server at one base path.
type Docs struct {
	base    string
	openapi []byte
	page    pageData
}

// New returns the docs of a server whose routes are under base (testingd's
// --base-path: "/" or "/prefix/").
func New(base string) (*Docs, error) {
	if !strings.HasPrefix(base, "/") || !strings.HasSuffix(base, "/") {
		return nil, fmt.Errorf("base path %q must start and end with /", base)
	}
	var doc map[string]any
	if err := json.Unmarshal(openapiJSON, &doc); err != nil {
		return nil, fmt.Errorf("embedded openapi.json: %w", err)
	}
	server := strings.TrimSuffix(base, "/")
	if server == "" {
		server = "/"
	}
	doc["servers"] = []any{map[string]any{"url": server, "description": "this testingd"}}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	page, err := newPageData(doc, testingv1.File_openlibrary_testing_v1_testing_proto.Services().ByName("TestingService"))
	if err != nil {
		return nil, err
	}
	return &Docs{base: base, openapi: append(out, '\n'), page: page}, nil
}

// OpenAPI returns the OpenAPI 3.1 document (JSON) with its server URL set to the
// base path.
func (d *Docs) OpenAPI() []byte { return d.openapi }

// Procedure returns the URL path of an RPC of service, e.g.
// "/openlibrary.testing.v1.TestingService/GetStatus".
func Procedure(m protoreflect.MethodDescriptor) string {
	return "/" + string(m.Parent().FullName()) + "/" + string(m.Name())
}
