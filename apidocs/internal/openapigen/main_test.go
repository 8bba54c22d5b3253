package main

import (
	"bytes"
	"os"
	"testing"
)

func readDoc(t *testing.T) []byte {
	t.Helper()
	doc, err := os.ReadFile("../../../gen/apidocs/testing.doc.json")
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// Two generations are byte-identical, and equal to the committed document.
func TestBuildIsDeterministic(t *testing.T) {
	doc := readDoc(t)
	first, warnings, err := build(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) > 0 {
		t.Errorf("warnings: %q", warnings)
	}
	for range 3 {
		again, _, err := build(doc)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, again) {
			t.Fatal("two generations differ")
		}
	}
	committed, err := os.ReadFile("../../openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, committed) {
		t.Error("apidocs/openapi.json is stale: run make generate")
	}
}

// An example that its request message would refuse stops the generation.
func TestBuildRefusesABadExample(t *testing.T) {
	saved := examples["Deploy"]
	t.Cleanup(func() { examples["Deploy"] = saved })
	examples["Deploy"] = `{"dry_run_please": true}`
	if _, _, err := build(readDoc(t)); err == nil {
		t.Error("build accepted an example with an unknown field")
	}
}

// A missing comment is reported.
func TestBuildWarnsOfMissingComments(t *testing.T) {
	doc := bytes.Replace(readDoc(t), []byte(`"description": "The PR number.",`), []byte(`"description": "",`), 1)
	_, warnings, err := build(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 {
		t.Errorf("warnings %q; want one", warnings)
	}
}
