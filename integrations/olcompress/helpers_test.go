package olcompress

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fixtureDir holds the project's shared fixtures; tests never read outside the repo.
const fixtureDir = "../../testdata/fixtures"

type legacyFixture struct {
	SeedFile     string `json:"seed_file"`
	JSON         string `json:"json"`
	StoredBase64 string `json:"stored_base64"`
	MemcacheKey  string `json:"memcache_key"`
	TTLSeconds   int    `json:"ttl_seconds"`

	seed   []byte
	stored []byte
}

func loadFixture(tb testing.TB) legacyFixture {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join(fixtureDir, "legacy-drift-cache.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var f legacyFixture
	if err := json.Unmarshal(raw, &f); err != nil {
		tb.Fatalf("legacy-drift-cache.json: %v", err)
	}
	if f.seed, err = os.ReadFile(filepath.Join(fixtureDir, f.SeedFile)); err != nil {
		tb.Fatal(err)
	}
	if f.stored, err = base64.StdEncoding.DecodeString(f.StoredBase64); err != nil {
		tb.Fatalf("stored_base64: %v", err)
	}
	return f
}

// legacyDecodeGo is the legacy algorithm in Go, independent of Codec: prime a
// level-9 zlib stream with the seed and sync-flush it (d_seed), then zlib-decode
// d_seed+stored, which checks the adler32 and must yield seed+text.
func legacyDecodeGo(seed, stored []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := zlib.NewWriterLevel(&buf, zlib.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(seed); err != nil {
		return nil, err
	}
	if err := zw.Flush(); err != nil {
		return nil, err
	}
	stream := append(bytes.Clone(buf.Bytes()), stored...)
	zr, err := zlib.NewReader(bytes.NewReader(stream))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(out, seed) {
		return nil, errors.New("output does not start with the seed")
	}
	return out[len(seed):], nil
}

// python runs testdata/legacy_codec.py (Open Library's own Compressor and
// json.dumps) over lines and returns its answer lines. python3 is required: the
// test fails without it, except under -short.
func python(tb testing.TB, mode string, lines []string) []string {
	tb.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		if testing.Short() {
			tb.Skip("python3 not installed (-short)")
		}
		tb.Fatalf("python3 is required to check against legacy's own codec: %v", err)
	}
	cmd := exec.Command(py, "testdata/legacy_codec.py", mode, filepath.Join(fixtureDir, "olcompress-seed.txt"))
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("python3 legacy_codec.py %s: %v\n%s", mode, err, stderr.String())
	}
	out := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	if len(out) != len(lines) {
		tb.Fatalf("python3 legacy_codec.py %s: %d answers for %d cases\n%s", mode, len(out), len(lines), stderr.String())
	}
	return out
}

// pythonDecode decodes stored values with legacy's codec.
func pythonDecode(tb testing.TB, stored ...[]byte) [][]byte {
	tb.Helper()
	in := make([]string, len(stored))
	for i, s := range stored {
		in[i] = base64.StdEncoding.EncodeToString(s)
	}
	out := python(tb, "decode", in)
	texts := make([][]byte, len(out))
	for i, line := range out {
		if rest, ok := strings.CutPrefix(line, "ERR "); ok {
			tb.Fatalf("legacy could not decode case %d: %s", i, rest)
		}
		t, err := base64.StdEncoding.DecodeString(line)
		if err != nil {
			tb.Fatalf("case %d: %v", i, err)
		}
		texts[i] = t
	}
	return texts
}

// pythonEncode encodes texts with legacy's codec.
func pythonEncode(tb testing.TB, texts ...[]byte) [][]byte {
	tb.Helper()
	in := make([]string, len(texts))
	for i, t := range texts {
		in[i] = base64.StdEncoding.EncodeToString(t)
	}
	out := python(tb, "encode", in)
	stored := make([][]byte, len(out))
	for i, line := range out {
		s, err := base64.StdEncoding.DecodeString(line)
		if err != nil {
			tb.Fatalf("case %d: %v", i, err)
		}
		stored[i] = s
	}
	return stored
}

// randomDrift makes a set of n PRs with full 40-digit heads (MarshalDrift cuts
// them), some unknown.
func randomDrift(r interface {
	IntN(int) int
	Uint64() uint64
}, n int) ([]int, map[int]DriftEntry) {
	order := make([]int, 0, n)
	entries := make(map[int]DriftEntry, n)
	for len(order) < n {
		pr := 1 + r.IntN(20000)
		if _, dup := entries[pr]; dup {
			continue
		}
		e := DriftEntry{Drift: -1}
		if r.IntN(5) > 0 {
			e = DriftEntry{
				HeadSHA: fmt.Sprintf("%016x%016x%08x", r.Uint64(), r.Uint64(), uint32(r.Uint64())),
				Drift:   r.IntN(300),
				Merged:  r.IntN(4) == 0,
			}
		}
		order = append(order, pr)
		entries[pr] = e
	}
	return order, entries
}
