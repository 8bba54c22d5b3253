package github

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Webhook sentinel errors. VerifySignature's errors wrap ErrBadSignature and
// ParseWebhook's wrap ErrBadPayload, each with a short reason; neither ever echoes
// the secret or a signature.
var (
	// ErrBadSignature: the delivery is not signed with our secret (missing, malformed
	// or mismatched X-Hub-Signature-256). Answer 401 and ignore the body.
	ErrBadSignature = errors.New("github: bad webhook signature")
	// ErrBadPayload: the body is not a webhook payload we can use (too large, not a
	// JSON object, a required field missing or inconsistent). Answer 400.
	ErrBadPayload = errors.New("github: bad webhook payload")
)

// MaxWebhookBody bounds the body of a delivery we accept, to cap what a receiver
// reads and buffers (use it with http.MaxBytesReader before verifying the signature).
// GitHub caps payloads at 25 MB, but pull_request events are small: about 20–60 KB,
// most of it the head and base repository objects. The largest legitimate one is
// an "edited" event whose PR body changed: the body (at most 65,536 characters, so at
// most 256 KB of UTF-8) appears twice, in pull_request.body and changes.body.from,
// about 512 KB in the worst case. 1 MiB leaves room for that and rejects anything
// far larger without buffering it.
const MaxWebhookBody = 1 << 20

// Webhook events we understand; others parse to a Webhook with only Event set.
const (
	EventPullRequest = "pull_request"
	EventPing        = "ping"
)

// Actions of a pull_request event that change what a testing deployment should
// run. GitHub sends others (labeled, review_requested, converted_to_draft, …);
// ParseWebhook returns those as they are, and callers ignore them.
const (
	ActionOpened      = "opened"
	ActionSynchronize = "synchronize"
	ActionClosed      = "closed"
	ActionReopened    = "reopened"
	ActionEdited      = "edited"
	ActionAssigned    = "assigned"
	ActionUnassigned  = "unassigned"
)

// Webhook is what we read of one delivery.
type Webhook struct {
	Event  string // the X-GitHub-Event header: "pull_request", "ping", …
	Action string // pull_request only: "opened", "synchronize", …, or any other action
	Repo   string // repository.full_name, "owner/name"; "" for a ping without one
	Number int    // pull_request only: the PR number
	// Pull is the PR as the event left it, decoded exactly as GET /pulls/N is;
	// nil unless Event is "pull_request".
	Pull   *Pull
	HookID int64 // ping only: the hook's id
}

// VerifySignature checks header, the X-Hub-Signature-256 of a delivery, against
// HMAC-SHA256(secret, body). It must run on the raw body before anything trusts
// it. The comparison is constant-time so that a forger learns nothing from how
// long a rejection takes. The legacy SHA-1 X-Hub-Signature is not accepted, and an
// empty secret is refused: anyone can compute an HMAC with an empty key.
func VerifySignature(secret, body []byte, header string) error {
	const prefix = "sha256="
	bad := func(reason string) error { return fmt.Errorf("verify signature: %w: %s", ErrBadSignature, reason) }
	if len(secret) == 0 {
		return bad("no secret configured")
	}
	if header == "" {
		return bad("missing X-Hub-Signature-256")
	}
	hexSig, ok := strings.CutPrefix(header, prefix)
	if !ok {
		return bad("not a sha256= signature")
	}
	if len(hexSig) != hex.EncodedLen(sha256.Size) {
		return bad(fmt.Sprintf("want %d hex digits, got %d characters", hex.EncodedLen(sha256.Size), len(hexSig)))
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return bad("malformed hex")
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return bad("mismatch")
	}
	return nil
}

// wirePullEvent is the part of a pull_request payload we read.
type wirePullEvent struct {
	Action      string    `json:"action"`
	Number      int       `json:"number"`
	PullRequest *wirePull `json:"pull_request"`
	Repository  *wireRepo `json:"repository"`
}

type wirePingEvent struct {
	HookID     int64     `json:"hook_id"`
	Repository *wireRepo `json:"repository"`
}

type wireRepo struct {
	FullName string `json:"full_name"`
}

// ParseWebhook decodes body, a delivery of event (the X-GitHub-Event header), whose
// signature the caller has already checked. A pull_request event needs its action,
// its number, a pull_request whose number matches, and the repository; the
// pull_request object is decoded and validated exactly as the REST API's is. A ping
// needs its hook_id; its repository is optional because organization and app
// hooks are pinged without one. Any other event is only checked to be a JSON object
// and comes back with just Event set, so that callers can answer it 2xx and ignore
// it. Errors wrap ErrBadPayload.
func ParseWebhook(event string, body []byte) (Webhook, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("webhook %s: %w: %s", eventName(event), ErrBadPayload, fmt.Sprintf(format, args...))
	}
	if event == "" {
		return Webhook{}, bad("missing X-GitHub-Event")
	}
	if len(body) > MaxWebhookBody {
		return Webhook{}, bad("body of %d bytes exceeds %d", len(body), MaxWebhookBody)
	}
	if !isJSONObject(body) {
		return Webhook{}, bad("not a JSON object")
	}
	switch event {
	case EventPullRequest:
		var w wirePullEvent
		if err := json.Unmarshal(body, &w); err != nil {
			return Webhook{}, bad("%s", jsonReason(err))
		}
		if w.Action == "" {
			return Webhook{}, bad("missing action")
		}
		if w.Number <= 0 {
			return Webhook{}, bad("missing or invalid number")
		}
		repo, err := repoName(w.Repository, true)
		if err != nil {
			return Webhook{}, bad("%v", err)
		}
		pull, err := pullFrom(w.PullRequest)
		if err != nil {
			// pullFrom speaks of a "malformed response"; here it is a payload.
			return Webhook{}, bad("pull_request: %s", strings.TrimPrefix(err.Error(), errMalformed.Error()+": "))
		}
		if pull.Number != w.Number {
			return Webhook{}, bad("number %d does not match pull_request.number %d", w.Number, pull.Number)
		}
		return Webhook{Event: event, Action: w.Action, Repo: repo, Number: w.Number, Pull: &pull}, nil
	case EventPing:
		var w wirePingEvent
		if err := json.Unmarshal(body, &w); err != nil {
			return Webhook{}, bad("%s", jsonReason(err))
		}
		if w.HookID <= 0 {
			return Webhook{}, bad("missing or invalid hook_id")
		}
		repo, err := repoName(w.Repository, false)
		if err != nil {
			return Webhook{}, bad("%v", err)
		}
		return Webhook{Event: event, Repo: repo, HookID: w.HookID}, nil
	default:
		return Webhook{Event: event}, nil
	}
}

// repoName returns r's full_name, checked to be owner/name; a missing repository
// is an error only when required.
func repoName(r *wireRepo, required bool) (string, error) {
	if r == nil {
		if required {
			return "", errors.New("missing repository")
		}
		return "", nil
	}
	owner, name, ok := strings.Cut(r.FullName, "/")
	if !ok || !validRepoPart(owner) || !validRepoPart(name) {
		return "", errors.New("repository.full_name is not owner/name")
	}
	return r.FullName, nil
}

// jsonReason describes a decoding error in the payload's terms rather than our Go
// types'.
func jsonReason(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return fmt.Sprintf("malformed JSON: %s is a JSON %s", typeErr.Field, typeErr.Value)
	}
	return fmt.Sprintf("malformed JSON: %v", err)
}

// isJSONObject reports whether data is one valid JSON value that is an object.
func isJSONObject(data []byte) bool {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	return len(trimmed) > 0 && trimmed[0] == '{' && json.Valid(data)
}

// eventName quotes event for an error message when it is not a plain name, so
// that a hostile header cannot forge log lines.
func eventName(event string) string {
	plain := event != "" && len(event) <= 64
	for _, r := range event {
		if !(r == '_' || r == '-' || r == '.' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			plain = false
		}
	}
	if plain {
		return event
	}
	return fmt.Sprintf("%.64q", event)
}
