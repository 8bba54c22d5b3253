package service

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
)

// timestamp converts t, or returns nil (unset) when ok is false.
func timestamp(t time.Time, ok bool) *timestamppb.Timestamp {
	if !ok || t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
