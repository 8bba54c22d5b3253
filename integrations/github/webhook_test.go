package github_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/internetarchive/testingd/integrations/github"
)

// sign is X-Hub-Signature-256 as GitHub computes it.
func sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func TestVerifySignature(t *testing.T) {
	t.Parallel()
	secret := []byte("It's a Secret to Everybody")
	body := []byte("Hello, World!")
	// GitHub's documented example: this secret and body give this signature.
	const documented = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	sha1mac := hmac.New(sha1.New, secret)
	sha1mac.Write(body)
	good := sign(secret, body)

	for _, tc := range []struct {
		name   string
		secret []byte
		body   []byte
		header string
		ok     bool
	}{
		{name: "valid", secret: secret, body: body, header: good, ok: true},
		{name: "github documented example", secret: secret, body: body, header: documented, ok: true},
		{name: "uppercase hex digits", secret: secret, body: body, header: "sha256=" + strings.ToUpper(good[7:]), ok: true},
		{name: "valid empty body", secret: secret, body: nil, header: sign(secret, nil), ok: true},
		{name: "forged signature", secret: secret, body: body, header: "sha256=" + strings.Repeat("ab", 32)},
		{name: "signature of another body", secret: secret, body: []byte("Hello, World?"), header: good},
		{name: "wrong secret", secret: []byte("another secret"), body: body, header: good},
		{name: "missing header", secret: secret, body: body, header: ""},
		{name: "sha1= header", secret: secret, body: body, header: "sha1=" + hex.EncodeToString(sha1mac.Sum(nil))},
		{name: "uppercase prefix", secret: secret, body: body, header: "SHA256=" + good[7:]},
		{name: "prefix only", secret: secret, body: body, header: "sha256="},
		{name: "no prefix", secret: secret, body: body, header: good[7:]},
		{name: "odd hex", secret: secret, body: body, header: good[:len(good)-1]},
		{name: "too long", secret: secret, body: body, header: good + "00"},
		{name: "non-hex digits", secret: secret, body: body, header: good[:len(good)-2] + "zz"},
		{name: "trailing space", secret: secret, body: body, header: good + " "},
		{name: "two signatures", secret: secret, body: body, header: good + "," + good},
		{name: "empty secret", secret: nil, body: body, header: sign(nil, body)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := github.VerifySignature(tc.secret, tc.body, tc.header)
			t.Log(err)
			if tc.ok {
				if err != nil {
					t.Fatalf("VerifySignature: %v", err)
				}
				return
			}
			if !errors.Is(err, github.ErrBadSignature) {
				t.Fatalf("VerifySignature = %v, want ErrBadSignature", err)
			}
			if len(tc.secret) > 0 && strings.Contains(err.Error(), string(tc.secret)) {
				t.Errorf("error %q reveals the secret", err)
			}
			if len(tc.header) > 10 && strings.Contains(err.Error(), tc.header[7:]) {
				t.Errorf("error %q echoes the signature", err)
			}
		})
	}
}

// pullFixture is the shared real pull object (a copy of testdata/fixtures/github-pull.json).
func pullFixture(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/pull.json")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// payload builds a pull_request payload around pull as GitHub shapes it, with
// fields overridden or added (a nil value writes null; a value of drop removes the
// field).
func payload(t testing.TB, action string, pull []byte, fields map[string]any) []byte {
	t.Helper()
	var number struct {
		Number int `json:"number"`
	}
	_ = json.Unmarshal(pull, &number)
	p := map[string]any{
		"action":       action,
		"number":       number.Number,
		"pull_request": json.RawMessage(pull),
		"repository": map[string]any{
			"id": 1207440, "name": "openlibrary", "full_name": "internetarchive/openlibrary", "private": false,
			"owner":          map[string]any{"login": "internetarchive", "id": 1, "type": "Organization"},
			"html_url":       "https://github.com/internetarchive/openlibrary",
			"default_branch": "master",
		},
		"organization": map[string]any{"login": "internetarchive", "id": 1},
		"sender":       map[string]any{"login": "author", "id": 1, "type": "User"},
	}
	for k, v := range fields {
		if v == drop {
			delete(p, k)
		} else {
			p[k] = v
		}
	}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// drop, as a field's value in payload, removes the field.
var drop = new(struct{ drop bool })

// withPull returns the fixture with fields of the pull object replaced.
func withPull(t testing.TB, fields map[string]any) []byte {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal(pullFixture(t), &p); err != nil {
		t.Fatal(err)
	}
	for k, v := range fields {
		if v == drop {
			delete(p, k)
		} else {
			p[k] = v
		}
	}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseWebhook(t *testing.T) {
	t.Parallel()
	fixture := pullFixture(t)
	want, err := github.ParsePull(fixture)
	if err != nil {
		t.Fatal(err)
	}
	unassigned := want
	unassigned.Assignee, unassigned.AssigneeAvatar = "", ""
	mergedPull := withPull(t, map[string]any{"state": "closed", "merged": true, "merged_at": "2026-01-02T03:04:05Z", "closed_at": "2026-01-02T03:04:05Z"})
	mergedWant, err := github.ParsePull(mergedPull)
	if err != nil {
		t.Fatal(err)
	}
	assignee := map[string]any{"login": "assignee", "id": 2}
	pullWebhook := func(action string, p github.Pull) github.Webhook {
		return github.Webhook{Event: "pull_request", Action: action, Repo: "internetarchive/openlibrary", Number: 13269, Pull: &p}
	}

	type tc struct {
		name  string
		event string
		body  []byte
		want  github.Webhook
		err   string // a substring of the error; "" = no error
	}
	cases := []tc{
		{name: "valid", event: "pull_request", body: payload(t, "opened", fixture, nil), want: pullWebhook("opened", want)},
		{name: "closed merged", event: "pull_request", body: payload(t, "closed", mergedPull, nil), want: pullWebhook("closed", mergedWant)},
		{name: "unknown action", event: "pull_request", body: payload(t, "labeled", fixture, map[string]any{"label": map[string]any{"name": "x"}}), want: pullWebhook("labeled", want)},
		{name: "null assignee", event: "pull_request",
			body: payload(t, "unassigned", withPull(t, map[string]any{"assignee": nil, "assignees": []any{}}), map[string]any{"assignee": nil}),
			want: pullWebhook("unassigned", unassigned)},
		{name: "pull without assignee field", event: "pull_request",
			body: payload(t, "opened", withPull(t, map[string]any{"assignee": drop}), nil), want: pullWebhook("opened", unassigned)},
		{name: "whitespace around the object", event: "pull_request",
			body: append(append([]byte("\n \t"), payload(t, "opened", fixture, nil)...), "\r\n"...), want: pullWebhook("opened", want)},
		{name: "number mismatch", event: "pull_request", body: payload(t, "opened", fixture, map[string]any{"number": 13270}), err: "does not match"},
		{name: "missing number", event: "pull_request", body: payload(t, "opened", fixture, map[string]any{"number": drop}), err: "number"},
		{name: "negative number", event: "pull_request", body: payload(t, "opened", fixture, map[string]any{"number": -1}), err: "number"},
		{name: "number as string", event: "pull_request", body: payload(t, "opened", fixture, map[string]any{"number": "13269"}), err: "malformed JSON"},
		{name: "missing action", event: "pull_request", body: payload(t, "", fixture, nil), err: "missing action"},
		{name: "missing pull_request", event: "pull_request", body: payload(t, "opened", fixture, map[string]any{"pull_request": drop}), err: "null pull request"},
		{name: "null pull_request", event: "pull_request", body: payload(t, "opened", fixture, map[string]any{"pull_request": nil}), err: "null pull request"},
		{name: "pull_request without number", event: "pull_request",
			body: payload(t, "opened", withPull(t, map[string]any{"number": drop}), map[string]any{"number": 13269}), err: "without a number"},
		{name: "pull_request not an object", event: "pull_request", body: payload(t, "opened", fixture, map[string]any{"pull_request": "13269"}), err: "malformed JSON"},
		{name: "bad merged_at", event: "pull_request",
			body: payload(t, "closed", withPull(t, map[string]any{"merged_at": "yesterday"}), nil), err: "malformed JSON"},
		{name: "missing repository", event: "pull_request", body: payload(t, "opened", fixture, map[string]any{"repository": drop}), err: "missing repository"},
		{name: "repository without owner", event: "pull_request",
			body: payload(t, "opened", fixture, map[string]any{"repository": map[string]any{"full_name": "openlibrary"}}), err: "owner/name"},
		{name: "repository with path", event: "pull_request",
			body: payload(t, "opened", fixture, map[string]any{"repository": map[string]any{"full_name": "a/b/c"}}), err: "owner/name"},
		{name: "garbage", event: "pull_request", body: []byte("<html>Unicorn!</html>"), err: "not a JSON object"},
		{name: "truncated", event: "pull_request", body: payload(t, "opened", fixture, nil)[:100], err: "not a JSON object"},
		{name: "trailing garbage", event: "pull_request", body: append(payload(t, "opened", fixture, nil), '}'), err: "not a JSON object"},
		{name: "empty body", event: "pull_request", body: nil, err: "not a JSON object"},
		{name: "non-object JSON array", event: "pull_request", body: []byte(`[{"action":"opened"}]`), err: "not a JSON object"},
		{name: "non-object JSON null", event: "pull_request", body: []byte(`null`), err: "not a JSON object"},
		{name: "non-object JSON string", event: "pull_request", body: []byte(`"{}"`), err: "not a JSON object"},
		{name: "form-encoded body", event: "pull_request", body: []byte("payload=%7B%7D"), err: "not a JSON object"},
		{name: "too large", event: "pull_request",
			body: payload(t, "opened", fixture, map[string]any{"padding": strings.Repeat("x", github.MaxWebhookBody)}), err: "exceeds"},
		{name: "missing event", event: "", body: []byte(`{}`), err: "missing X-GitHub-Event"},
		{name: "ping", event: "ping",
			body: []byte(`{"zen": "Design for failure.", "hook_id": 12345678, "hook": {"type": "Repository", "id": 12345678, "name": "web", "active": true, "events": ["pull_request"], "config": {"content_type": "json", "insecure_ssl": "0", "url": "https://example.com/webhook"}}, "repository": {"full_name": "internetarchive/openlibrary"}, "sender": {"login": "author"}}`),
			want: github.Webhook{Event: "ping", Repo: "internetarchive/openlibrary", HookID: 12345678}},
		{name: "ping of an organization hook", event: "ping", body: []byte(`{"zen": "Keep it logically awesome.", "hook_id": 7, "hook": {"type": "Organization"}, "organization": {"login": "internetarchive"}}`),
			want: github.Webhook{Event: "ping", HookID: 7}},
		{name: "ping without hook_id", event: "ping", body: []byte(`{"zen": "Approachable is better than simple."}`), err: "hook_id"},
		{name: "ping with bad repository", event: "ping", body: []byte(`{"hook_id": 7, "repository": {"full_name": ""}}`), err: "owner/name"},
		{name: "ping not an object", event: "ping", body: []byte(`7`), err: "not a JSON object"},
		{name: "unknown event", event: "issues", body: []byte(`{"action": "opened", "issue": {"number": 1}}`), want: github.Webhook{Event: "issues"}},
		{name: "unknown event not decoded further", event: "push", body: []byte(`{"number": "not a number", "ref": 5}`), want: github.Webhook{Event: "push"}},
		{name: "unknown event garbage", event: "push", body: []byte(`ref=refs/heads/master`), err: "not a JSON object"},
		{name: "unknown hostile event name", event: "x\nlevel=ERROR", body: []byte(`[]`), err: `"x\nlevel=ERROR"`},
	}
	for _, action := range []string{"opened", "synchronize", "closed", "reopened", "edited", "assigned", "unassigned"} {
		fields := map[string]any{}
		switch action {
		case "assigned", "unassigned":
			fields["assignee"] = assignee
		case "edited":
			fields["changes"] = map[string]any{"title": map[string]any{"from": "Old title"}}
		case "synchronize":
			fields["before"], fields["after"] = strings.Repeat("1", 40), want.HeadSHA
		}
		cases = append(cases, tc{name: "action " + action, event: "pull_request", body: payload(t, action, fixture, fields), want: pullWebhook(action, want)})
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := github.ParseWebhook(tc.event, tc.body)
			if tc.err != "" {
				t.Log(err)
				if !errors.Is(err, github.ErrBadPayload) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseWebhook = %+v, %v; want ErrBadPayload containing %q", got, err, tc.err)
				}
				if got != (github.Webhook{}) {
					t.Errorf("returned %+v with the error", got)
				}
				if strings.Count(err.Error(), "\n") > 0 {
					t.Errorf("error %q spans lines", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseWebhook: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseWebhook (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseWebhookMatchesParsePull: a webhook's pull request decodes exactly as the
// REST API's, so a receiver can treat the two the same.
func TestParseWebhookMatchesParsePull(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"testdata/pull.json", "testdata/webhook-pull_request.json"} {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		var outer struct {
			PullRequest json.RawMessage `json:"pull_request"`
		}
		if err := json.Unmarshal(data, &outer); err == nil && outer.PullRequest != nil {
			data = outer.PullRequest
		}
		rest, err := github.ParsePull(data)
		if err != nil {
			t.Fatal(err)
		}
		w, err := github.ParseWebhook("pull_request", payload(t, "synchronize", data, nil))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(&rest, w.Pull); diff != "" {
			t.Errorf("%s: webhook pull differs from ParsePull (-rest +webhook):\n%s", name, diff)
		}
	}
}

// TestRealisticPayload parses the stored full-size payload (GitHub's shape, built
// around the shared pull fixture) and checks it fits MaxWebhookBody many times over.
func TestRealisticPayload(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/webhook-pull_request.json")
	if err != nil {
		t.Fatal(err)
	}
	w, err := github.ParseWebhook("pull_request", data)
	if err != nil {
		t.Fatal(err)
	}
	if w.Action != "synchronize" || w.Number != 13269 || w.Repo != "internetarchive/openlibrary" || w.Pull == nil ||
		w.Pull.HeadSHA != "abc1234f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b" || w.Pull.Assignee != "assignee" {
		t.Errorf("ParseWebhook = %+v, pull %+v", w, w.Pull)
	}
	if len(data)*10 > github.MaxWebhookBody {
		t.Errorf("a %d-byte payload is within 10x of MaxWebhookBody", len(data))
	}
}

func FuzzVerifySignature(f *testing.F) {
	secret := []byte("It's a Secret to Everybody")
	body := []byte("Hello, World!")
	f.Add(secret, body, sign(secret, body))
	f.Add(secret, body, "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
	f.Add(secret, body, "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59")
	f.Add(secret, body, "sha256=")
	f.Add(secret, body, "sha256=757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E1")
	f.Add([]byte{}, []byte{}, "")
	f.Add([]byte("k"), []byte(`{"zen":"x"}`), "sha256=zz"+strings.Repeat("0", 62))
	f.Fuzz(func(t *testing.T, secret, body []byte, header string) {
		err := github.VerifySignature(secret, body, header)
		if err != nil && !errors.Is(err, github.ErrBadSignature) {
			t.Fatalf("error %v does not wrap ErrBadSignature", err)
		}
		// Exactly the right signature, in either case of hex digits, verifies.
		right := sign(secret, body)
		matches := len(secret) > 0 && strings.HasPrefix(header, "sha256=") && strings.EqualFold(header, right)
		if (err == nil) != matches {
			t.Fatalf("VerifySignature(%q, %q, %q) = %v; right signature %q", secret, body, header, err, right)
		}
		if len(secret) > 0 {
			if err := github.VerifySignature(secret, body, right); err != nil {
				t.Fatalf("the right signature fails: %v", err)
			}
		}
	})
}

func FuzzParseWebhook(f *testing.F) {
	if data, err := os.ReadFile("testdata/webhook-pull_request.json"); err == nil {
		f.Add("pull_request", data)
	}
	fixture := pullFixture(f)
	for _, action := range []string{"opened", "synchronize", "closed", "reopened", "edited", "assigned", "unassigned", "labeled"} {
		f.Add("pull_request", payload(f, action, fixture, nil))
	}
	f.Add("pull_request", payload(f, "opened", fixture, map[string]any{"number": 1}))
	f.Add("pull_request", []byte(`{"action":"opened","number":1,"pull_request":{"number":1,"merged_at":null,"assignee":null},"repository":{"full_name":"a/b"}}`))
	f.Add("pull_request", []byte(`{"action":"opened","number":1,"pull_request":null}`))
	f.Add("ping", []byte(`{"zen":"Design for failure.","hook_id":1,"repository":{"full_name":"a/b"}}`))
	f.Add("ping", []byte(`{"hook_id":-1}`))
	f.Add("push", []byte(`{"ref":"refs/heads/master"}`))
	f.Add("", []byte(`{}`))
	f.Add("pull_request", []byte(`[]`))
	f.Add("pull_request", []byte(` {"number": 1e400}`))
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		w, err := github.ParseWebhook(event, body)
		if err != nil {
			if !errors.Is(err, github.ErrBadPayload) {
				t.Fatalf("error %v does not wrap ErrBadPayload", err)
			}
			if w != (github.Webhook{}) {
				t.Fatalf("returned %+v with the error", w)
			}
			return
		}
		if w.Event != event || event == "" {
			t.Fatalf("event %q parsed as %q", event, w.Event)
		}
		if len(body) > github.MaxWebhookBody || !json.Valid(body) || bytes.TrimLeft(body, " \t\r\n")[0] != '{' {
			t.Fatalf("accepted a body that is not one JSON object of at most MaxWebhookBody bytes: %q", body)
		}
		switch event {
		case "pull_request":
			if w.Pull == nil || w.Action == "" || w.Number <= 0 || w.Pull.Number != w.Number || w.Repo == "" || w.HookID != 0 {
				t.Fatalf("accepted an incomplete pull_request event: %+v", w)
			}
			if !w.Pull.MergedAt.IsZero() && !w.Pull.Merged {
				t.Fatalf("merged_at set but not merged: %+v", w.Pull)
			}
			if strings.Count(w.Repo, "/") != 1 {
				t.Fatalf("repo %q is not owner/name", w.Repo)
			}
		case "ping":
			if w.HookID <= 0 || w.Pull != nil || w.Action != "" || w.Number != 0 {
				t.Fatalf("accepted a bad ping: %+v", w)
			}
		default:
			if w != (github.Webhook{Event: event}) {
				t.Fatalf("event %q decoded beyond its name: %+v", event, w)
			}
		}
	})
}
