package main

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"connectrpc.com/connect"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
)

const (
	clearScreen     = "\x1b[H\x1b[2J" // cursor home, erase the screen
	watchBackoffMin = time.Second
	watchBackoffMax = 30 * time.Second
)

// runWatch follows WatchStatus until Ctrl-C. The first connection must succeed
// (a wrong --server or token is reported at once); a connection lost after that is
// retried with backoff, since a server restart should not end a dashboard.
func runWatch(ctx context.Context, a *app, _ *options, _ []string) error {
	w := &watcher{a: a, tty: !a.json && terminal(a.out)}
	backoff := watchBackoffMin
	for {
		got, err := w.once(ctx)
		if ctx.Err() != nil {
			return nil // Ctrl-C: a clean exit
		}
		if got {
			backoff = watchBackoffMin
		}
		if !w.connected {
			if err == nil {
				err = fmt.Errorf("the server ended the status stream before sending a status")
			}
			return err
		}
		switch connect.CodeOf(err) {
		case connect.CodeUnauthenticated, connect.CodePermissionDenied, connect.CodeInvalidArgument, connect.CodeUnimplemented:
			return err // retrying cannot help
		}
		reason := "the server closed the stream"
		if err != nil {
			reason = a.classify(ctx, err).message
		}
		fmt.Fprintf(a.err, "watch: connection lost (%s); reconnecting in %s…\n", reason, backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, watchBackoffMax)
	}
}

type watcher struct {
	a         *app
	tty       bool
	connected bool // a status has been received at least once
	printed   int
}

// once follows one stream until it ends; got says whether it carried a status.
func (w *watcher) once(ctx context.Context) (got bool, err error) {
	stream, err := w.a.client.WatchStatus(ctx, connect.NewRequest(&testingv1.WatchStatusRequest{}))
	if err != nil {
		return false, err
	}
	defer stream.Close()
	for stream.Receive() {
		st := stream.Msg().GetStatus()
		if st == nil {
			continue // a heartbeat
		}
		got, w.connected = true, true
		if err := w.print(st); err != nil {
			return got, err
		}
	}
	return got, stream.Err()
}

func (w *watcher) print(st *testingv1.GetStatusResponse) error {
	a := w.a
	if a.json {
		return writeJSONLine(a.out, st)
	}
	now := time.Now()
	var buf bytes.Buffer
	switch {
	case w.tty:
		buf.WriteString(clearScreen)
	case w.printed > 0:
		buf.WriteString("\n")
	}
	if !w.tty {
		fmt.Fprintf(&buf, "=== %s  version %s ===\n", now.Format("2006-01-02 15:04:05 MST"), st.Version)
	}
	renderStatus(&buf, st, now)
	if w.tty {
		fmt.Fprintf(&buf, "\nWatching %s · updated %s · Ctrl-C to stop\n", a.conn.baseURL, now.Format("15:04:05"))
	}
	w.printed++
	_, err := a.out.Write(buf.Bytes()) // one write: no flicker
	return err
}
