package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"connectrpc.com/connect"
)

// Exit codes. Scripts can tell "fix the command", "you may not / the state moved",
// and "try again later" apart without reading messages.
const (
	exitOK          = 0   // done
	exitError       = 1   // anything else: NOT_FOUND, INTERNAL, a declined confirmation…
	exitUsage       = 2   // bad command line, or the server's INVALID_ARGUMENT
	exitRefused     = 3   // UNAUTHENTICATED, PERMISSION_DENIED, ABORTED, FAILED_PRECONDITION
	exitUnavailable = 4   // UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, server unreachable
	exitIncomplete  = 5   // a batch ran but some items were not applied (see each item)
	exitInterrupted = 130 // Ctrl-C during a request (watch exits 0 on Ctrl-C)
)

const exitCodesHelp = `Exit codes:
  0    done
  1    failed for another reason (e.g. NOT_FOUND, INTERNAL, deploy not confirmed)
  2    usage: bad command line, or the server's INVALID_ARGUMENT
  3    refused: UNAUTHENTICATED or PERMISSION_DENIED (token), ABORTED (the state
       changed since --expected-version / the plan shown), FAILED_PRECONDITION
       (e.g. nothing to deploy, conflicts on a testingd without --git-dir)
  4    unavailable: the server cannot be reached or did not answer in time,
       or it answered UNAVAILABLE (GitHub, Jenkins or git down); try again later
  5    incomplete: a batch (add, remove, …) ran, but some items were not applied
  130  interrupted (Ctrl-C); watch exits 0 on Ctrl-C
`

// cliError is a failure with its exit code and a hint of what to do next.
type cliError struct {
	exit    int
	code    string // the Connect code's name when the server (or the transport) gave one
	message string
	hint    string
}

func (e *cliError) Error() string { return e.message }

func usageErrorf(format string, args ...any) *cliError {
	return &cliError{exit: exitUsage, message: fmt.Sprintf(format, args...)}
}

// classify turns any error of a command into a cliError. ctx is the command's
// context: when it was canceled (Ctrl-C), the error is an interruption whatever the
// transport made of it.
func (a *app) classify(ctx context.Context, err error) *cliError {
	var ce *cliError
	if errors.As(err, &ce) {
		return ce
	}
	// The command's own context has no deadline (--timeout bounds each request's
	// child context): when it is done, Ctrl-C (or SIGTERM) ended the command.
	if ctx.Err() != nil {
		return &cliError{exit: exitInterrupted, code: "canceled", message: "interrupted"}
	}
	code := connect.CodeOf(err)
	msg := err.Error()
	var cerr *connect.Error
	if errors.As(err, &cerr) {
		msg = cerr.Message()
	}
	out := &cliError{exit: exitError, code: code.String(), message: msg}
	switch code {
	case connect.CodeInvalidArgument:
		out.exit = exitUsage
		out.hint = fmt.Sprintf("fix the arguments (testingctl help %s)", a.cmd)
	case connect.CodeUnauthenticated:
		out.exit = exitRefused
		if a.token == "" {
			out.hint = "set TESTINGCTL_TOKEN to a bearer token listed in the server's --tokens-file (ask a maintainer for one)"
		} else {
			out.hint = "the server does not accept the token in TESTINGCTL_TOKEN (mistyped, revoked, or another server's): ask a maintainer for a new one"
		}
	case connect.CodePermissionDenied:
		out.exit = exitRefused
		out.hint = "this needs a maintainer's token in TESTINGCTL_TOKEN"
	case connect.CodeAborted:
		out.exit = exitRefused
		out.hint = "the testing set changed meanwhile; nothing was changed: run `testingctl status` and try again"
	case connect.CodeFailedPrecondition:
		out.exit = exitRefused
		if a.cmd == "conflicts" {
			out.hint = "start testingd with --git-dir pointing at a bare clone of the repository (testingctl status says why the prediction is off)"
		}
	case connect.CodeUnavailable, connect.CodeDeadlineExceeded, connect.CodeResourceExhausted:
		out.exit = exitUnavailable
		switch {
		case isNetworkError(err):
			out.message = fmt.Sprintf("cannot reach testingd at %s: %s", a.conn.baseURL, networkCause(err))
			out.hint = "is it running? point --server (or TESTINGCTL_SERVER) at it, e.g. --server https://HOST/status/v2/"
		case strings.Contains(msg, "HTTP response to HTTPS client"):
			out.hint = "the server speaks plain HTTP: use an http:// --server"
		case strings.Contains(msg, "x509:") || strings.Contains(msg, "tls:"):
			out.hint = "the server's TLS certificate was not accepted: check the host name in --server"
		case code == connect.CodeDeadlineExceeded && a.cmd == "conflicts":
			out.message = fmt.Sprintf("the conflict matrix was not ready within %s", a.timeout)
			out.hint = "testingd goes on computing it: ask again shortly, or allow longer with --timeout"
		case code == connect.CodeDeadlineExceeded:
			out.message = fmt.Sprintf("testingd at %s did not answer within %s", a.conn.baseURL, a.timeout)
			out.hint = "try again, or allow longer with --timeout"
		default:
			out.hint = "try again shortly"
		}
	case connect.CodeUnimplemented, connect.CodeUnknown:
		// A proxy or another server answered: the base path is wrong, most likely.
		if code == connect.CodeUnimplemented || strings.Contains(msg, "404") || strings.Contains(msg, "405") {
			out.message = fmt.Sprintf("%s does not answer as testingd (%s)", a.conn.baseURL, msg)
			out.hint = "check the base path (e.g. --server https://HOST/status/v2/) and --protocol"
		}
	case connect.CodeNotFound:
		if a.cmd != "add" {
			out.hint = "testingctl add REF creates it"
		}
	case connect.CodeCanceled:
		out.exit = exitInterrupted
	}
	return out
}

// isNetworkError reports whether err is a failure to reach the server at all.
func isNetworkError(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	return errors.As(err, &dns) || (errors.As(err, &op) && op.Op == "dial")
}

func networkCause(err error) string {
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return dns.Error()
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}

// report prints e for a person ("testingctl: …" and the hint), or, with --json, as
// one JSON object on stderr:
//
//	{"error": {"code": "aborted", "message": "…", "hint": "…", "exitCode": 3}}
func (a *app) report(w io.Writer, e *cliError) {
	if a.json {
		type jsonError struct {
			Code     string `json:"code"`
			Message  string `json:"message"`
			Hint     string `json:"hint,omitempty"`
			ExitCode int    `json:"exitCode"`
		}
		code := e.code
		if code == "" {
			code = map[int]string{exitUsage: "usage", exitIncomplete: "incomplete", exitInterrupted: "canceled"}[e.exit]
			if code == "" {
				code = "error"
			}
		}
		b, _ := json.Marshal(map[string]jsonError{"error": {Code: code, Message: e.message, Hint: e.hint, ExitCode: e.exit}})
		fmt.Fprintf(w, "%s\n", b)
		return
	}
	fmt.Fprintf(w, "testingctl: %s\n", e.message)
	if e.hint != "" {
		fmt.Fprintf(w, "  %s\n", e.hint)
	}
}
