package apidocs

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
)

func service() protoreflect.ServiceDescriptor {
	return testingv1.File_openlibrary_testing_v1_testing_proto.Services().ByName("TestingService")
}

func TestNewSetsServer(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ base, want string }{
		{"/", "/"},
		{"/status/v2/", "/status/v2"},
	} {
		d, err := New(tt.base)
		if err != nil {
			t.Fatalf("New(%q): %v", tt.base, err)
		}
		var doc struct {
			OpenAPI string `json:"openapi"`
			Servers []struct {
				URL string `json:"url"`
			} `json:"servers"`
		}
		if err := json.Unmarshal(d.OpenAPI(), &doc); err != nil {
			t.Fatal(err)
		}
		if len(doc.Servers) != 1 || doc.Servers[0].URL != tt.want || doc.OpenAPI != "3.1.0" {
			t.Errorf("New(%q): openapi %q, servers %+v; want 3.1.0 and [%s]", tt.base, doc.OpenAPI, doc.Servers, tt.want)
		}
	}
	for _, bad := range []string{"", "status", "/status", "status/"} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%q) = nil error; want one", bad)
		}
	}
}

// The embedded document describes the compiled service: every RPC, and for every
// message it uses exactly the fields protojson writes, each with a description
// (the proto comments are the docs, so a missing comment fails here).
func TestOpenAPIDescribesTheService(t *testing.T) {
	t.Parallel()
	var doc map[string]any
	if err := json.Unmarshal(openapiJSON, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	schemas := dig(doc, "components", "schemas").(map[string]any)
	methods := service().Methods()
	for i := range methods.Len() {
		m := methods.Get(i)
		op, ok := dig(doc, "paths", Procedure(m), "post").(map[string]any)
		if !ok {
			t.Errorf("no POST %s; run make generate", Procedure(m))
			continue
		}
		if str(op["description"]) == "" || str(op["summary"]) == "" {
			t.Errorf("%s has no description: comment the rpc", m.FullName())
		}
		checkMessage(t, schemas, m.Input(), map[protoreflect.FullName]bool{})
		checkMessage(t, schemas, m.Output(), map[protoreflect.FullName]bool{})
	}
}

func checkMessage(t *testing.T, schemas map[string]any, md protoreflect.MessageDescriptor, done map[protoreflect.FullName]bool) {
	t.Helper()
	if done[md.FullName()] {
		return
	}
	done[md.FullName()] = true
	s, ok := schemas[schemaName(md)].(map[string]any)
	if !ok {
		t.Errorf("no schema for %s", md.FullName())
		return
	}
	if str(s["description"]) == "" {
		t.Errorf("%s has no description: comment the message", md.FullName())
	}
	props, _ := s["properties"].(map[string]any)
	var want, got []string
	for p := range props {
		got = append(got, p)
	}
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		want = append(want, fd.JSONName())
		if str(dig(props, fd.JSONName(), "description")) == "" {
			t.Errorf("%s has no description: comment the field", fd.FullName())
		}
		switch {
		case fd.Enum() != nil:
			checkEnum(t, schemas, fd.Enum())
		case fd.Message() != nil && fd.Message().ParentFile() == md.ParentFile():
			checkMessage(t, schemas, fd.Message(), done)
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("%s: described fields %v; protojson writes %v", md.FullName(), got, want)
	}
}

func checkEnum(t *testing.T, schemas map[string]any, ed protoreflect.EnumDescriptor) {
	t.Helper()
	s, _ := schemas[schemaName(ed)].(map[string]any)
	names, _ := s["enum"].([]any)
	descs, _ := s["x-enum-descriptions"].([]any)
	values := ed.Values()
	if len(names) != values.Len() || len(descs) != values.Len() {
		t.Errorf("%s: %d names and %d descriptions described; it has %d values", ed.FullName(), len(names), len(descs), values.Len())
		return
	}
	for i := range values.Len() {
		if names[i] != string(values.Get(i).Name()) {
			t.Errorf("%s: value %d described as %v; want %s", ed.FullName(), i, names[i], values.Get(i).Name())
		}
		if str(descs[i]) == "" {
			t.Errorf("%s has no description: comment the value", values.Get(i).FullName())
		}
	}
}

func TestPage(t *testing.T) {
	t.Parallel()
	d, err := New("/status/v2/")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := d.WritePage(&b, "https://testing.example.org"); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	want := []string{
		"<!doctype html>",
		`href="../openapi.json"`,
		`id="PullRequest"`, `id="Stage"`, "STAGE_PULL_LATEST",
		// A curl example addressed to this server, and the GET form.
		"https://testing.example.org/status/v2/openlibrary.testing.v1.TestingService/AddPRs",
		"GetStatus?encoding=json&amp;message=%7B%7D",
		`grpcurl -H "Authorization: Bearer $TOKEN" -d '{}' testing.example.org:443 openlibrary.testing.v1.TestingService/WatchStatus`,
		// Markdown code spans of the comments become <code>.
		"<code>make generate</code>",
		`Authorization: Bearer $TOKEN`,
	}
	methods := service().Methods()
	for i := range methods.Len() {
		want = append(want, `<section class="rpc" id="`+string(methods.Get(i).Name())+`">`)
	}
	for _, s := range want {
		if !strings.Contains(page, s) {
			t.Errorf("page lacks %q", s)
		}
	}
	// Fields are listed in proto order with their JSON names.
	if i, j := strings.Index(page, "<code>refs</code>"), strings.Index(page, "<code>expectedVersion</code>"); i < 0 || j < i {
		t.Errorf("AddPRsRequest's fields missing or out of order (%d, %d)", i, j)
	}
}
