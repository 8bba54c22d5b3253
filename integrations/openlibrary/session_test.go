package openlibrary

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

// The verified vector of LEGACY.md §6 (secret "xxx").
const (
	vectorSecret = "xxx"
	vectorValue  = "/people/openlibrary,2026-01-18T17:25:46,7897f$841a3bd2f8e9a5ca46f505fa557d57bd"
)

func TestVerifySession(t *testing.T) {
	t.Parallel()
	secret := []byte(vectorSecret)
	tests := []struct {
		name   string
		cookie string
		secret []byte
		want   string // "" = invalid
	}{
		{"vector", vectorValue, secret, "openlibrary"},
		{"vector URL-encoded", url.QueryEscape(vectorValue), secret, "openlibrary"},
		{"vector path-encoded", url.PathEscape(vectorValue), secret, "openlibrary"},
		{"signed by SignSession", SignSession("mekarpeles", "2025-12-01T08:00:00", "ab12c", secret), secret, "mekarpeles"},
		{"username with dot and dash", SignSession("a.b-c_d", "t", "s", secret), secret, "a.b-c_d"},
		{"plus is not a space", SignSession("a+b", "t", "s", secret), secret, "a+b"},
		{"plus URL-encoded", url.QueryEscape(SignSession("a+b", "t", "s", secret)), secret, "a+b"},

		{"forged hash", strings.Replace(vectorValue, "841a3bd2", "841a3bd3", 1), secret, ""},
		{"forged username", strings.Replace(vectorValue, "/people/openlibrary", "/people/mekarpeles", 1), secret, ""},
		{"forged timestamp", strings.Replace(vectorValue, "17:25:46", "17:25:47", 1), secret, ""},
		{"forged salt", strings.Replace(vectorValue, "7897f", "7897e", 1), secret, ""},
		{"wrong secret", vectorValue, []byte("yyy"), ""},
		{"secret with newline", vectorValue, []byte("xxx\n"), ""},
		{"empty secret", SignSession("openlibrary", "t", "s", nil), nil, ""},
		{"upper-case hex", strings.Replace(vectorValue, "841a3bd2f8e9a5ca46f505fa557d57bd", "841A3BD2F8E9A5CA46F505FA557D57BD", 1), secret, ""},
		{"truncated hash", vectorValue[:len(vectorValue)-1], secret, ""},
		{"hash with extra", vectorValue + "0", secret, ""},
		{"empty hash", "/people/openlibrary,2026-01-18T17:25:46,7897f$", secret, ""},
		{"missing $", strings.Replace(vectorValue, "$", "", 1), secret, ""},
		{"empty salt", SignSession("openlibrary", "t", "", secret), secret, ""},
		{"no timestamp", "/people/openlibrary,7897f$841a3bd2f8e9a5ca46f505fa557d57bd", secret, ""},
		{"no timestamp signed", "/people/openlibrary,s$" + sessionHash(secret, "s", "/people/openlibrary"), secret, ""},
		{"empty timestamp signed", SignSession("openlibrary", "", "s", secret), secret, ""},
		{"extra comma in username signed", SignSession("evil,admin", "t", "s", secret), secret, ""},
		{"slash in username signed", SignSession("a/b", "t", "s", secret), secret, ""},
		{"space in username signed", SignSession("a b", "t", "s", secret), secret, ""},
		{"control in username signed", SignSession("a\x00b", "t", "s", secret), secret, ""},
		{"empty username signed", SignSession("", "t", "s", secret), secret, ""},
		{"non-people prefix", "/account/openlibrary,t,s$" + sessionHash(secret, "s", "/account/openlibrary,t"), secret, ""},
		{"no leading slash", "people/openlibrary,t,s$" + sessionHash(secret, "s", "people/openlibrary,t"), secret, ""},
		{"people prefix only", "/people/", secret, ""},
		{"empty", "", secret, ""},
		{"bad escape", "%2Fpeople%2Fopenlibrary%zz", secret, ""},
		{"double-encoded", url.QueryEscape(url.QueryEscape(vectorValue)), secret, ""},
		{"too long", SignSession(strings.Repeat("a", 5000), "t", "s", secret), secret, ""},
		{"quoted", `"` + vectorValue + `"`, secret, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := VerifySession(tt.cookie, tt.secret)
			if tt.want == "" {
				if err == nil || !errors.Is(err, ErrInvalidSession) || got != "" {
					t.Fatalf("VerifySession = %q, %v; want ErrInvalidSession", got, err)
				}
				if strings.Contains(err.Error(), "841a3bd2") {
					t.Errorf("error %q repeats the cookie", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("VerifySession = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestSignSessionMatchesVector(t *testing.T) {
	t.Parallel()
	if got := SignSession("openlibrary", "2026-01-18T17:25:46", "7897f", []byte(vectorSecret)); got != vectorValue {
		t.Errorf("SignSession = %q; want %q", got, vectorValue)
	}
}

func FuzzVerifySession(f *testing.F) {
	secret := []byte(vectorSecret)
	f.Add(vectorValue)
	f.Add(url.QueryEscape(vectorValue))
	f.Add("/people/a,b,c,d$e")
	f.Add("/people/,,$")
	f.Add("%")
	f.Fuzz(func(t *testing.T, cookie string) {
		name, err := VerifySession(cookie, secret)
		if err != nil {
			if !errors.Is(err, ErrInvalidSession) || name != "" {
				t.Fatalf("VerifySession(%q) = %q, %v", cookie, name, err)
			}
			return
		}
		// Whatever verifies is exactly what Open Library would have signed.
		if !validUsername(name) {
			t.Fatalf("VerifySession(%q) accepted the username %q", cookie, name)
		}
		decoded, _ := url.PathUnescape(cookie)
		if !strings.HasPrefix(decoded, "/people/"+name+",") {
			t.Fatalf("VerifySession(%q) = %q, not the cookie's user", cookie, name)
		}
		rest := strings.TrimPrefix(decoded, "/people/"+name+",")
		timestamp, sig, _ := strings.Cut(rest, ",")
		salt, _, _ := strings.Cut(sig, "$")
		if SignSession(name, timestamp, salt, secret) != decoded {
			t.Fatalf("VerifySession(%q) accepted a cookie SignSession does not make", cookie)
		}
	})
}
