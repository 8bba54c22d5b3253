package github

import (
	"encoding/json"
	"fmt"
	"time"
)

// wirePull is the part of GitHub's pull request object that we read. Decoding into it
// rather than go-github's PullRequest (hundreds of fields, every one a pointer) makes a
// listing several times cheaper to decode, which matters because a 304 is decoded again
// from the remembered body.
type wirePull struct {
	Number    int        `json:"number"`
	State     string     `json:"state"`
	Title     string     `json:"title"`
	Head      wireHead   `json:"head"`
	User      *wireUser  `json:"user"`
	Assignee  *wireUser  `json:"assignee"`
	Merged    bool       `json:"merged"` // absent from the listing
	MergedAt  *time.Time `json:"merged_at"`
	ClosedAt  *time.Time `json:"closed_at"`
	UpdatedAt *time.Time `json:"updated_at"`
	Mergeable *bool      `json:"mergeable"` // absent from the listing; null until computed
	// MergeableState is absent from the listing; "unknown" until computed.
	MergeableState string `json:"mergeable_state"`
}

type wireHead struct {
	SHA string `json:"sha"`
}

type wireUser struct {
	Login     string `json:"login"`
	AvatarURL string `json:"avatar_url"`
}

type wireCompare struct {
	Status   *string `json:"status"`
	AheadBy  *int    `json:"ahead_by"`
	BehindBy *int    `json:"behind_by"`
}

// ParsePull decodes one pull request object as GitHub's REST API and its
// pull_request webhook events carry it. The error wraps ErrUnavailable: the data came
// from GitHub and is not usable.
func ParsePull(data []byte) (Pull, error) {
	var w *wirePull
	if err := json.Unmarshal(data, &w); err != nil {
		return Pull{}, fmt.Errorf("parse pull: %w: malformed JSON: %v", ErrUnavailable, err)
	}
	pull, err := pullFrom(w)
	if err != nil {
		return Pull{}, fmt.Errorf("parse pull: %w: %v", ErrUnavailable, err)
	}
	return pull, nil
}

// pullFrom maps GitHub's pull request to ours.
func pullFrom(w *wirePull) (Pull, error) {
	if w == nil {
		return Pull{}, fmt.Errorf("%w: null pull request", errMalformed)
	}
	if w.Number <= 0 {
		return Pull{}, fmt.Errorf("%w: pull request without a number", errMalformed)
	}
	p := Pull{
		Number:    w.Number,
		State:     w.State,
		Title:     w.Title,
		HeadSHA:   w.Head.SHA,
		Merged:    w.Merged || w.MergedAt != nil, // the listing carries only merged_at
		MergedAt:  timeOf(w.MergedAt),
		ClosedAt:  timeOf(w.ClosedAt),
		UpdatedAt: timeOf(w.UpdatedAt),
		Mergeable: w.Mergeable,

		MergeableState: w.MergeableState,
	}
	if w.User != nil {
		p.Author, p.AuthorAvatar = w.User.Login, w.User.AvatarURL
	}
	if w.Assignee != nil {
		p.Assignee, p.AssigneeAvatar = w.Assignee.Login, w.Assignee.AvatarURL
	}
	return p, nil
}

func timeOf(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}
