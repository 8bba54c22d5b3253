package openlibrary

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"
)

// ErrInvalidSession is wrapped by every error of VerifySession: the cookie is not one
// Open Library signed with this secret. The wrapping text says why, never what the
// cookie held.
var ErrInvalidSession = errors.New("invalid Open Library session cookie")

const (
	peoplePrefix = "/people/"
	// maxSessionLen bounds the work done on a hostile cookie; a real one is ~80 bytes
	// and browsers cap a cookie at 4 KiB anyway.
	maxSessionLen = 4096
)

// VerifySession checks an Open Library session cookie and returns the username it
// was issued to (LEGACY.md §6).
//
// cookieValue is the cookie's value as the browser sends it: URL-encoded
// ("%2Fpeople%2Fname%2C…"), or already decoded; decoding a decoded value changes
// nothing, since a valid one holds no '%'. Decoded, it reads
//
//	/people/{username},{timestamp},{salt}${hash}
//
// where hash = hex(HMAC-MD5(key=secret, msg=salt + "/people/{username},{timestamp}")).
// The hash is compared in constant time and, as Open Library's own check does, as
// the lower-case hex string Python's hexdigest writes.
//
// As in legacy, the timestamp is not checked: a session cookie never expires, and
// only changing Open Library's secret invalidates the cookies issued with it. The
// timestamp is still required to be there, since it is part of what was signed.
func VerifySession(cookieValue string, secret []byte) (username string, err error) {
	if len(secret) == 0 {
		// An empty key would make every cookie forgeable; never accept one.
		return "", fmt.Errorf("%w: no secret configured", ErrInvalidSession)
	}
	if len(cookieValue) > maxSessionLen {
		return "", fmt.Errorf("%w: too long", ErrInvalidSession)
	}
	value, err := url.PathUnescape(cookieValue) // Python's unquote: '+' stays '+'
	if err != nil {
		return "", fmt.Errorf("%w: bad URL encoding", ErrInvalidSession)
	}
	if !strings.HasPrefix(value, peoplePrefix) {
		return "", fmt.Errorf("%w: not a /people/ session", ErrInvalidSession)
	}
	// The signed text is everything before the last comma; the signature after it.
	i := strings.LastIndexByte(value, ',')
	if i < 0 {
		return "", fmt.Errorf("%w: no signature", ErrInvalidSession)
	}
	text, signature := value[:i], value[i+1:]
	salt, hash, ok := strings.Cut(signature, "$")
	if !ok {
		return "", fmt.Errorf("%w: no '$' in the signature", ErrInvalidSession)
	}
	if salt == "" {
		// Legacy signs with a fresh random salt when given an empty one, so a cookie
		// with no salt can never verify there either.
		return "", fmt.Errorf("%w: empty salt", ErrInvalidSession)
	}
	name, timestamp, ok := strings.Cut(text[len(peoplePrefix):], ",")
	switch {
	case !ok || timestamp == "":
		return "", fmt.Errorf("%w: no timestamp", ErrInvalidSession)
	case !validUsername(name):
		return "", fmt.Errorf("%w: bad username", ErrInvalidSession)
	case strings.Contains(timestamp, ","):
		// Open Library never signs a username with a comma in it; the extra field
		// would make the username ambiguous.
		return "", fmt.Errorf("%w: too many fields", ErrInvalidSession)
	}
	want := sessionHash(secret, salt, text)
	if !hmac.Equal([]byte(hash), []byte(want)) {
		return "", fmt.Errorf("%w: signature does not match", ErrInvalidSession)
	}
	return name, nil
}

// SignSession makes the (decoded) value of the session cookie Open Library would
// issue: for tests and fakes. The browser sends it URL-encoded
// (url.QueryEscape); VerifySession takes either form.
func SignSession(username, timestamp, salt string, secret []byte) string {
	text := peoplePrefix + username + "," + timestamp
	return text + "," + salt + "$" + sessionHash(secret, salt, text)
}

func sessionHash(secret []byte, salt, text string) string {
	mac := hmac.New(md5.New, secret)
	mac.Write([]byte(salt))
	mac.Write([]byte(text))
	return hex.EncodeToString(mac.Sum(nil))
}

// validUsername reports whether name can be the username of a signed session: not
// empty, and no separator, space or control character (Open Library's usernames are
// letters, digits, '-' and '_'; older accounts have a little more, so only what would
// break the format or a log line is refused).
func validUsername(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if r == ',' || r == '/' || r == '$' || r == unicode.ReplacementChar || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
