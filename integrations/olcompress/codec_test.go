package olcompress

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"hash/adler32"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
)

func TestEmbeddedSeedIsTheFixture(t *testing.T) {
	t.Parallel()
	f := loadFixture(t)
	if !bytes.Equal(olSeed, f.seed) {
		t.Fatalf("seed.txt (%d bytes) differs from %s (%d bytes); copy the fixture again", len(olSeed), f.SeedFile, len(f.seed))
	}
	if f.MemcacheKey != DefaultKey {
		t.Errorf("DefaultKey = %q, fixture says %q", DefaultKey, f.MemcacheKey)
	}
	if got := int(DefaultTTL.Seconds()); got != f.TTLSeconds {
		t.Errorf("DefaultTTL = %ds, fixture says %ds", got, f.TTLSeconds)
	}
}

// TestSeedHasNoTrailingNewline pins what the fixture's checksum proves: the seed
// is the file's bytes exactly. The stored adler32 covers seed+text, and only the
// exact bytes give it.
func TestSeedHasNoTrailingNewline(t *testing.T) {
	t.Parallel()
	f := loadFixture(t)
	stored := binary.BigEndian.Uint32(f.stored[len(f.stored)-4:])
	sum := func(seed []byte) uint32 {
		h := adler32.New()
		h.Write(seed)
		h.Write([]byte(f.JSON))
		return h.Sum32()
	}
	if got := sum(f.seed); got != stored {
		t.Errorf("adler32(file+json) = %08x, stored %08x", got, stored)
	}
	if got := sum(append(bytes.Clone(f.seed), '\n')); got == stored {
		t.Errorf("adler32(file+newline+json) matches too; the check proves nothing")
	}
}

func TestDecodeFixture(t *testing.T) {
	t.Parallel()
	f := loadFixture(t)
	got, err := Default().Decode(f.stored)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != f.JSON {
		t.Fatalf("Decode = %q\nwant     %q", got, f.JSON)
	}
	// The Go emulation of legacy agrees on the fixture, so it can judge our bytes.
	if got, err := legacyDecodeGo(f.seed, f.stored); err != nil || string(got) != f.JSON {
		t.Fatalf("legacyDecodeGo = %q, %v", got, err)
	}
}

// TestEncodeDecodesWithLegacy: our bytes differ from Python's, but legacy's
// algorithm (in Go, and Open Library's own code in Python) reads them as exactly
// our text.
func TestEncodeDecodesWithLegacy(t *testing.T) {
	t.Parallel()
	f := loadFixture(t)
	r := rand.New(rand.NewPCG(1, 2))
	texts := [][]byte{[]byte(f.JSON), []byte("{}"), {}, f.seed, []byte(strings.Repeat(f.JSON, 50))}
	for _, n := range []int{1, 2, 10, 100, 400} {
		texts = append(texts, MarshalDrift(randomDrift(r, n)))
	}
	noise := make([]byte, 5000)
	for i := range noise {
		noise[i] = byte(r.Uint32())
	}
	texts = append(texts, noise)

	stored := make([][]byte, len(texts))
	for i, text := range texts {
		s, err := Default().Encode(text)
		if err != nil {
			t.Fatal(err)
		}
		stored[i] = s
		got, err := legacyDecodeGo(f.seed, s)
		if err != nil || !bytes.Equal(got, text) {
			t.Errorf("case %d (%d bytes): legacyDecodeGo = %d bytes, %v", i, len(text), len(got), err)
		}
	}
	for i, got := range pythonDecode(t, stored...) {
		if !bytes.Equal(got, texts[i]) {
			t.Errorf("case %d: legacy's Python decodes %d bytes, want %d", i, len(got), len(texts[i]))
		}
	}
}

// TestDecodeLegacyEncoded: values legacy writes (Open Library's compress in
// Python) decode to their text.
func TestDecodeLegacyEncoded(t *testing.T) {
	t.Parallel()
	f := loadFixture(t)
	r := rand.New(rand.NewPCG(3, 4))
	texts := [][]byte{[]byte(f.JSON), []byte("{}"), {}}
	for _, n := range []int{1, 7, 60, 300} {
		texts = append(texts, MarshalDrift(randomDrift(r, n)))
	}
	stored := pythonEncode(t, texts...)
	if !bytes.Equal(stored[0], f.stored) {
		t.Errorf("legacy's Python encodes the fixture JSON as %x, fixture has %x", stored[0], f.stored)
	}
	for i, s := range stored {
		got, err := Default().Decode(s)
		if err != nil || !bytes.Equal(got, texts[i]) {
			t.Errorf("case %d: Decode = %q, %v; want %q", i, got, err, texts[i])
		}
	}
}

func TestRoundTripRandom(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	c := Default()
	for i := range 60 {
		order, entries := randomDrift(r, r.IntN(400))
		text := MarshalDrift(order, entries)
		stored, err := c.Encode(text)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Decode(stored)
		if err != nil || !bytes.Equal(got, text) {
			t.Fatalf("round %d: Decode(Encode(x)) = %d bytes, %v; want %d bytes", i, len(got), err, len(text))
		}
		gotOrder, gotEntries, err := ParseDrift(got)
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		if !bytes.Equal(MarshalDrift(gotOrder, gotEntries), text) {
			t.Fatalf("round %d: parse and marshal changed the value", i)
		}
	}
}

func TestOtherSeeds(t *testing.T) {
	t.Parallel()
	long := bytes.Repeat([]byte("0123456789abcdef"), 5000) // 80 KB, past the 32 KiB window
	for _, tc := range []struct {
		name string
		seed []byte
	}{
		{"empty", nil},
		{"short", []byte("x")},
		{"longer than the window", long},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := New(tc.seed)
			text := []byte(`{"1": {"head_sha": "0123456", "drift": 0, "merged": true}}` + string(long[:1000]))
			stored, err := c.Encode(text)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := c.Decode(stored); err != nil || !bytes.Equal(got, text) {
				t.Fatalf("Decode = %d bytes, %v", len(got), err)
			}
			if got, err := legacyDecodeGo(tc.seed, stored); err != nil || !bytes.Equal(got, text) {
				t.Fatalf("legacyDecodeGo = %d bytes, %v", len(got), err)
			}
		})
	}
}

func TestNewCopiesSeed(t *testing.T) {
	t.Parallel()
	seed := []byte("seed text")
	c := New(seed)
	stored, _ := c.Encode([]byte("seed text again"))
	seed[0] = 'X'
	if _, err := c.Decode(stored); err != nil {
		t.Fatalf("changing the caller's seed changed the codec: %v", err)
	}
}

// bomb is a valid deflate stream (no dictionary needed) of about size bytes of
// zeros: one sync-flushed block of 1 MiB repeated, cheap to build for any size.
func bomb(t *testing.T, mib int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	w.Write(make([]byte, 1<<20))
	w.Flush()
	block := bytes.Clone(buf.Bytes())
	out := bytes.Repeat(block, mib)
	// A final fixed-Huffman block holding only end-of-block, then a checksum.
	return append(out, 0x03, 0x00, 0, 0, 0, 0)
}

// Not parallel: it measures the process's allocations (runtime.MemStats), which would
// count the other tests' too.
func TestDecodeBounded(t *testing.T) {
	c := Default()

	// Exactly at the limit decodes; one byte over is refused.
	at := New(olSeed)
	at.max = 1000
	ok := bytes.Repeat([]byte("a"), 1000)
	stored, err := c.Encode(ok)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := at.Decode(stored); err != nil || len(got) != 1000 {
		t.Fatalf("text at the limit: %d bytes, %v", len(got), err)
	}
	over, _ := c.Encode(append(ok, 'a'))
	if _, err := at.Decode(over); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("text over the limit: %v, want ErrTooLarge", err)
	}
	if _, err := at.Encode(append(ok, 'a')); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Encode over the limit: %v, want ErrTooLarge", err)
	}

	// A 1 GiB bomb of about 1 MB stops at MaxTextSize without reading on.
	b := bomb(t, 1024)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = c.Decode(b)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("bomb of %d bytes: %v, want ErrTooLarge", len(b), err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("decoding the bomb allocated %d MiB", alloc>>20)
	}
	t.Logf("bomb: %d bytes stored for 1 GiB; %v", len(b), err)
}

func TestDecodeBadInput(t *testing.T) {
	t.Parallel()
	f := loadFixture(t)
	s := f.stored
	flip := func(i int) []byte { b := bytes.Clone(s); b[i] ^= 0x01; return b }
	otherSeed, _ := New([]byte("another seed entirely, not Open Library's")).Encode([]byte(f.JSON))
	var plain bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&plain, 9)
	zw.Write([]byte(f.JSON))
	zw.Close()

	for _, tc := range []struct {
		name    string
		in      []byte
		wantErr string
	}{
		{"nil", nil, "empty"},
		{"empty", []byte{}, "empty"},
		{"one zero byte", []byte{0}, "truncated"},
		{"text", []byte("not compressed at all"), "corrupt"},
		{"json", []byte(f.JSON), "corrupt"},
		{"no checksum", s[:len(s)-4], "truncated checksum (0 of 4"},
		{"checksum cut", s[:len(s)-1], "truncated checksum (3 of 4"},
		{"deflate cut", s[:len(s)-10], "truncated deflate"},
		{"only the first byte", s[:1], "truncated deflate"},
		{"checksum changed", flip(len(s) - 1), "adler32 mismatch"},
		{"trailing byte", append(bytes.Clone(s), 0), "1 bytes after the checksum"},
		{"a whole zlib stream", plain.Bytes(), "olcompress: corrupt"},
		{"another seed", otherSeed, "olcompress: corrupt"},
		{"bit flipped inside", flip(20), "olcompress: corrupt"},
		{"stored block header only", []byte{0x01, 0x05, 0x00}, "truncated"},
		{"stored block with bad length check", []byte{0x01, 0x05, 0x00, 0x00, 0x00}, "corrupt"},
		{"reserved block type", []byte{0x07}, "corrupt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Default().Decode(tc.in)
			if err == nil {
				t.Fatalf("Decode = %q, want an error", got)
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("error %v does not wrap ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not mention %q", err, tc.wantErr)
			}
			if got != nil {
				t.Errorf("Decode returned %d bytes with the error", len(got))
			}
		})
	}
}

// FuzzDecode: Decode never panics or runs away; it either fails with one of its
// sentinels or returns a bounded text that legacy's algorithm reads the same way
// and that survives a round trip.
func FuzzDecode(f *testing.F) {
	fx := loadFixture(f)
	f.Add(fx.stored)
	f.Add([]byte{})
	f.Add([]byte{0x03, 0x00})
	f.Add(fx.stored[:len(fx.stored)-1])
	if s, err := Default().Encode(nil); err == nil {
		f.Add(s)
	}
	// A small limit keeps each run fast: deflate inflates about 1000:1, so under
	// the real limit a few kilobytes of fuzz input cost seconds, and the fuzzer
	// finds them. The limit's logic is the same at any size.
	c := New(olSeed)
	c.max = 64 << 10
	f.Fuzz(func(t *testing.T, in []byte) {
		text, err := c.Decode(in)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error %v wraps neither ErrCorrupt nor ErrTooLarge", err)
			}
			return
		}
		if len(text) > c.max {
			t.Fatalf("%d bytes decoded, over the limit", len(text))
		}
		if got, err := legacyDecodeGo(olSeed, in); err != nil || !bytes.Equal(got, text) {
			t.Fatalf("legacy's algorithm disagrees: %d bytes, %v; Decode gave %d", len(got), err, len(text))
		}
		again, err := c.Encode(text)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := c.Decode(again); err != nil || !bytes.Equal(got, text) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
