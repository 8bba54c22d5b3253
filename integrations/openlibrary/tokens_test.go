package openlibrary

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	hashA = HashToken("token-a")
	hashB = HashToken("token-b")
)

func TestHashToken(t *testing.T) {
	t.Parallel()
	// printf %s abc | sha256sum
	if got := HashToken("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("HashToken(abc) = %s", got)
	}
}

func TestParseTokens(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		data    string
		want    map[string]string
		wantErr string // a substring of the error; "" = no error
	}{
		{"empty", "", map[string]string{}, ""},
		{"comments and blanks", "# bots\n\n   \n  # indented comment\n", map[string]string{}, ""},
		{"two", "ci-bot " + hashA + "\ncli-mek " + hashB + "\n", map[string]string{hashA: "ci-bot", hashB: "cli-mek"}, ""},
		{"no final newline, CRLF, tabs", "ci-bot\t" + hashA + "\r\n  cli-mek   " + hashB, map[string]string{hashA: "ci-bot", hashB: "cli-mek"}, ""},
		{"upper-case hex", "ci-bot " + strings.ToUpper(hashA), map[string]string{hashA: "ci-bot"}, ""},
		{"missing hash", "# x\nci-bot\n", nil, "line 2: missing the hash"},
		{"three fields", "ci bot " + hashA, nil, "line 1: 3 fields"},
		{"trailing comment", "ci-bot " + hashA + " # the CI", nil, "line 1: 5 fields"},
		{"short hash", "ci-bot " + hashA[:63], nil, "line 1: the hash has 63 characters"},
		{"long hash", "ci-bot " + hashA + "0", nil, "line 1: the hash has 65 characters"},
		{"token instead of hash", "ci-bot token-a", nil, "line 1: the hash has 7 characters"},
		{"bad hex", "ci-bot " + strings.Repeat("g", 64), nil, "line 1: the hash is not hexadecimal"},
		{"duplicate name", "a " + hashA + "\n\na " + hashB, nil, `line 3: the name "a" is already on line 1`},
		{"duplicate hash", "a " + hashA + "\nb " + strings.ToUpper(hashA), nil, "line 2: the same hash is already on line 1"},
		{"control character", "a\x01b " + hashA, nil, "line 1: the name has a control character"},
		{"not UTF-8", "a\xff " + hashA, nil, "not UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseTokens([]byte(tt.data))
			if tt.wantErr != "" {
				if !errors.Is(err, ErrInvalidTokens) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseTokens = %v, %v; want an error with %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadTokens(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := LoadTokens(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	bad := filepath.Join(dir, "bad")
	writeFile(t, bad, "a b c\n")
	if _, err := LoadTokens(bad); !errors.Is(err, ErrInvalidTokens) || !strings.Contains(err.Error(), bad) {
		t.Errorf("bad file: %v; want ErrInvalidTokens naming the file", err)
	}
	big := filepath.Join(dir, "big")
	writeFile(t, big, strings.Repeat("#", maxTokensFile+1))
	if _, err := LoadTokens(big); !errors.Is(err, ErrInvalidTokens) {
		t.Errorf("big file: %v", err)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// replaceFile replaces path atomically, as a careful editor or deploy does.
func replaceFile(t *testing.T, path, data string) {
	t.Helper()
	tmp := path + ".tmp"
	writeFile(t, tmp, data)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestTokensLookup(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tokens")
	writeFile(t, path, "ci-bot "+hashA+"\ncli-mek "+hashB+"\n")
	tok, err := OpenTokens(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		token, want string
	}{
		{"token-a", "ci-bot"},
		{"token-b", "cli-mek"},
		{"token-c", ""},
		{"", ""},
		{hashA, ""}, // the hash is not the token
		{"Token-a", ""},
		{"token-a ", ""},
		{strings.Repeat("x", maxTokenLen+1), ""},
	}
	for _, tt := range tests {
		name, ok := tok.Lookup(tt.token)
		if name != tt.want || ok != (tt.want != "") {
			t.Errorf("Lookup(%.20q) = %q, %v; want %q", tt.token, name, ok, tt.want)
		}
	}
	var nilTokens *Tokens
	if _, ok := nilTokens.Lookup("token-a"); ok {
		t.Error("a nil *Tokens accepted a token")
	}
}

func TestOpenTokensErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := OpenTokens(filepath.Join(dir, "missing"), nil); err == nil {
		t.Error("missing file accepted")
	}
	bad := filepath.Join(dir, "bad")
	writeFile(t, bad, "a\n")
	if _, err := OpenTokens(bad, nil); !errors.Is(err, ErrInvalidTokens) {
		t.Errorf("bad file: %v", err)
	}
}

// A token removed from the file stops working at once, whichever way the file is
// changed; a file that goes bad or away admits no token.
func TestTokensReload(t *testing.T) {
	t.Parallel()
	steps := []struct {
		name   string
		change func(t *testing.T, path string)
		a, b   bool // token-a, token-b accepted
	}{
		{"start", func(*testing.T, string) {}, true, true},
		{"revoke b by rename", func(t *testing.T, p string) { replaceFile(t, p, "ci-bot "+hashA+"\n") }, true, false},
		{"add b in place", func(t *testing.T, p string) { writeFile(t, p, "ci-bot "+hashA+"\ncli-mek "+hashB+"\n") }, true, true},
		{"swap in place, same size", func(t *testing.T, p string) { writeFile(t, p, "ci-bot "+hashB+"\ncli-mek "+hashA+"\n") }, true, true},
		{"revoke a in place, same size", func(t *testing.T, p string) {
			writeFile(t, p, "ci-bot "+HashToken("token-z")+"\ncli-mek "+hashB+"\n")
		}, false, true},
		{"half-edited", func(t *testing.T, p string) { writeFile(t, p, "ci-bot "+hashA+"\ncli-mek\n") }, false, false},
		{"fixed", func(t *testing.T, p string) { writeFile(t, p, "ci-bot "+hashA+"\n") }, true, false},
		{"deleted", func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}, false, false},
		{"back", func(t *testing.T, p string) { writeFile(t, p, "cli-mek "+hashB+"\n") }, false, true},
	}
	path := filepath.Join(t.TempDir(), "tokens")
	writeFile(t, path, "ci-bot "+hashA+"\ncli-mek "+hashB+"\n")
	tok, err := OpenTokens(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range steps {
		st.change(t, path)
		_, a := tok.Lookup("token-a")
		_, b := tok.Lookup("token-b")
		if a != st.a || b != st.b {
			t.Errorf("%s: token-a %v, token-b %v; want %v, %v", st.name, a, b, st.a, st.b)
		}
	}
}

// Once the file has been still for a while it is no longer read at every lookup.
func TestTokensNotReadWhenUnchanged(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tokens")
	writeFile(t, path, "ci-bot "+hashA+"\n")
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	tok, err := OpenTokens(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	readAt := tok.readAt
	if _, ok := tok.Lookup("token-a"); !ok {
		t.Fatal("token-a refused")
	}
	if !tok.readAt.Equal(readAt) {
		t.Error("an unchanged, settled file was read again")
	}
}

func TestTokensConcurrent(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tokens")
	writeFile(t, path, "ci-bot "+hashA+"\n")
	tok, err := OpenTokens(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				if i == 0 && j%20 == 0 {
					tmp := path + ".tmp"
					if err := os.WriteFile(tmp, []byte("ci-bot "+hashA+"\n"), 0o600); err != nil {
						t.Error(err)
						return
					}
					if err := os.Rename(tmp, path); err != nil {
						t.Error(err)
						return
					}
				}
				if _, ok := tok.Lookup("token-a"); !ok {
					t.Error("token-a refused while the file was rewritten with it")
					return
				}
			}
		})
	}
	wg.Wait()
}

func FuzzParseTokens(f *testing.F) {
	f.Add([]byte("ci-bot " + hashA + "\n# c\n\ncli " + hashB))
	f.Add([]byte("a\n"))
	f.Add([]byte("a b c"))
	f.Add([]byte("a " + hashA + "\na " + hashA))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseTokens(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidTokens) || m != nil {
				t.Fatalf("ParseTokens = %v, %v", m, err)
			}
			return
		}
		names := map[string]bool{}
		for h, name := range m {
			if len(h) != 64 || strings.ToLower(h) != h || name == "" || names[name] {
				t.Fatalf("ParseTokens gave %q → %q", h, name)
			}
			names[name] = true
		}
	})
}
