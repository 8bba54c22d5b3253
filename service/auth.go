package service

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/internetarchive/testingd/integrations/openlibrary"
)

// How a Viewer authenticated (Viewer.Method).
const (
	MethodDev    = "dev"
	MethodCookie = "cookie"
	MethodToken  = "token"
)

// DevAuth makes every caller a maintainer named "dev". It is for a developer's own
// machine: testingd allows it only on a loopback address.
type DevAuth struct{}

// Authenticate implements Authenticator.
func (DevAuth) Authenticate(context.Context, http.Header) (Viewer, error) {
	return Viewer{Username: "dev", SignedIn: true, Maintainer: true, Method: MethodDev}, nil
}

// Mode implements Authenticator.
func (DevAuth) Mode() string { return "dev" }

// TokenLookup finds the name of a bearer token (implemented by *openlibrary.Tokens).
type TokenLookup interface {
	Lookup(token string) (name string, ok bool)
}

// Membership tells whether an Open Library user is in any of some usergroups
// (implemented by *openlibrary.Groups). An error means it cannot tell.
type Membership interface {
	IsMember(ctx context.Context, username string, groups []string) (bool, error)
}

// bearer returns the token of an "Authorization: Bearer TOKEN" header. ok is false
// when there is no Authorization header or it is of another scheme (a proxy's Basic
// auth, say), which then plays no part in authentication.
func bearer(h http.Header) (token string, ok bool) {
	scheme, token, found := strings.Cut(strings.TrimSpace(h.Get("Authorization")), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// tokenViewer authenticates a bearer token. A token holder is a maintainer: tokens
// are handed out to maintainers' bots and CLIs only. A bearer token that is not
// listed (never was, or was revoked) is a caller who is not signed in: the request
// does not fall back to its cookie, since the credential it chose to present failed.
func tokenViewer(tokens TokenLookup, token string) Viewer {
	if tokens == nil {
		return Viewer{}
	}
	name, ok := tokens.Lookup(token)
	if !ok {
		return Viewer{}
	}
	return Viewer{Username: name, SignedIn: true, Maintainer: true, Method: MethodToken}
}

// TokenAuth is an Authenticator that accepts bearer tokens before asking another one.
type TokenAuth struct {
	base   Authenticator
	tokens TokenLookup
}

// WithTokens makes bearer tokens work on top of base (e.g. DevAuth): a request with
// "Authorization: Bearer …" is authenticated by its token alone (see tokenViewer);
// any other is base's to authenticate.
func WithTokens(base Authenticator, tokens TokenLookup) *TokenAuth {
	return &TokenAuth{base: base, tokens: tokens}
}

// Authenticate implements Authenticator.
func (a *TokenAuth) Authenticate(ctx context.Context, h http.Header) (Viewer, error) {
	if token, ok := bearer(h); ok {
		return tokenViewer(a.tokens, token), nil
	}
	return a.base.Authenticate(ctx, h)
}

// Mode implements Authenticator.
func (a *TokenAuth) Mode() string { return a.base.Mode() }

// OpenLibraryAuthOptions configure NewOpenLibraryAuth.
type OpenLibraryAuthOptions struct {
	// CookieName is Open Library's session cookie; default "session".
	CookieName string
	// Secret is Open Library's session secret (its secret_key). Required.
	Secret []byte
	// Groups answers usergroup membership. Required.
	Groups Membership
	// MaintainerGroups are the usergroups whose members are maintainers, e.g.
	// "maintainers", "admin". At least one.
	MaintainerGroups []string
	// Tokens are the bearer tokens; nil = none.
	Tokens TokenLookup
	Logger *slog.Logger
}

// OpenLibraryAuth authenticates Open Library's own users (--auth openlibrary): a
// bearer token first, else the Open Library session cookie, whose user is a
// maintainer when Open Library lists them in a maintainer usergroup.
type OpenLibraryAuth struct {
	cookie string
	secret []byte
	groups Membership
	names  []string
	tokens TokenLookup
	logger *slog.Logger
}

// NewOpenLibraryAuth checks the options and builds an OpenLibraryAuth.
func NewOpenLibraryAuth(opts OpenLibraryAuthOptions) (*OpenLibraryAuth, error) {
	switch {
	case len(opts.Secret) == 0:
		return nil, errors.New("openlibrary auth: empty session secret")
	case opts.Groups == nil:
		return nil, errors.New("openlibrary auth: no usergroup client")
	case len(opts.MaintainerGroups) == 0:
		return nil, errors.New("openlibrary auth: no maintainer usergroups")
	}
	return &OpenLibraryAuth{
		cookie: cmp.Or(opts.CookieName, "session"),
		secret: append([]byte(nil), opts.Secret...),
		groups: opts.Groups,
		names:  append([]string(nil), opts.MaintainerGroups...),
		tokens: opts.Tokens,
		logger: cmp.Or(opts.Logger, slog.New(slog.DiscardHandler)),
	}, nil
}

// maxSessionCookies bounds the signatures checked for one request: a browser sends
// several cookies of one name only when several domains or paths set one.
const maxSessionCookies = 4

// Authenticate implements Authenticator. It returns an error only when the caller
// has a valid session but Open Library cannot say whether they are a maintainer;
// the service answers that with UNAVAILABLE, never with access.
func (a *OpenLibraryAuth) Authenticate(ctx context.Context, h http.Header) (Viewer, error) {
	if token, ok := bearer(h); ok {
		return tokenViewer(a.tokens, token), nil
	}
	username := ""
	// Every cookie of that name is tried (up to a few), since a parent domain's
	// cookie of the same name may come first; a cookie is only ever accepted by its
	// signature.
	for i, c := range (&http.Request{Header: h}).CookiesNamed(a.cookie) {
		if i == maxSessionCookies {
			break
		}
		name, err := openlibrary.VerifySession(c.Value, a.secret)
		if err == nil {
			username = name
			break
		}
		// Debug only: a stale cookie after a secret rotation is common and harmless.
		a.logger.DebugContext(ctx, "session cookie refused", "err", err)
	}
	if username == "" {
		return Viewer{}, nil
	}
	member, err := a.groups.IsMember(ctx, username, a.names)
	if err != nil {
		return Viewer{}, err
	}
	return Viewer{Username: username, SignedIn: true, Maintainer: member, Method: MethodCookie}, nil
}

// Mode implements Authenticator.
func (a *OpenLibraryAuth) Mode() string { return "openlibrary" }
