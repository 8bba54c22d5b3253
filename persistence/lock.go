package persistence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/gofrs/flock"
)

// fileLock is an exclusive lock shared by this process's goroutines and other
// processes: first a one-slot queue in this process (so goroutines do not all poll the
// flock), then a flock on a sibling lock file (locking the data file itself would break
// once it is renamed over).
type fileLock struct {
	path   string // the lock file
	what   string // for errors: "state file", "audit log"
	queue  chan struct{}
	logger *slog.Logger
}

func newFileLock(path, what string, logger *slog.Logger) *fileLock {
	return &fileLock{path: path, what: what, queue: make(chan struct{}, 1), logger: logger}
}

// lock takes the lock, honouring ctx while waiting.
func (l *fileLock) lock(ctx context.Context) (unlock func(), err error) {
	select {
	case l.queue <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("lock %s: %w", l.what, ctx.Err())
	}
	fl := flock.New(l.path, flock.SetPermissions(newFileMode))
	ok, err := fl.TryLockContext(ctx, lockRetryDelay)
	if err != nil || !ok {
		<-l.queue
		if err == nil {
			err = errors.New("not acquired")
		}
		return nil, fmt.Errorf("lock %s: %w", l.what, err)
	}
	return func() {
		if err := fl.Unlock(); err != nil {
			l.logger.Warn("unlock "+l.what, "path", l.path, "err", err)
		}
		<-l.queue
	}, nil
}
