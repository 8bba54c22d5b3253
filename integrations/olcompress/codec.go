package olcompress

import (
	"bytes"
	"compress/flate"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/adler32"
	"io"
	"sync"
)

// MaxTextSize bounds the text Decode will produce and Encode will accept. A few
// hundred PRs of drift are a few tens of kilobytes; the bound exists so that a
// hostile or broken value in the shared cache (a "zip bomb" of a few kilobytes
// that inflates to gigabytes) is an error rather than an out-of-memory crash.
const MaxTextSize = 8 << 20

// adlerSize is the length of the zlib trailer: adler32 of everything the stream
// ever carried (the seed and the text), big-endian.
const adlerSize = 4

var (
	// ErrCorrupt is wrapped by every Decode error caused by the bytes themselves:
	// empty, truncated or malformed deflate data, a checksum mismatch, trailing bytes.
	ErrCorrupt = errors.New("olcompress: corrupt value")
	// ErrTooLarge is returned (wrapped) when a text exceeds the codec's limit
	// (MaxTextSize unless changed in tests), by Decode as by Encode.
	ErrTooLarge = errors.New("olcompress: text too large")
)

//go:embed seed.txt
var olSeed []byte

// Codec is Open Library's seeded zlib codec (openlibrary/utils/compress.py). Legacy
// primes a level-9 zlib compressor with a fixed seed text and sync-flushes it; every
// value is then compressed by a copy of that primed compressor and stored without
// the seed's output. So a stored value is a run of raw deflate blocks whose window
// starts out holding the seed, ending in a final block and the zlib trailer, the
// adler32 of seed+text.
//
// After a sync flush deflate is byte-aligned, so the stored bytes are exactly a raw
// deflate stream with the seed as preset dictionary: compress/flate's *Dict
// functions read and write it directly. Our bytes differ from Python's (a different
// compressor makes different choices), but they decode with the legacy algorithm
// to exactly the same text, which is all the contract asks.
//
// A Codec is immutable and safe for concurrent use.
type Codec struct {
	seed []byte
	max  int // largest text accepted; MaxTextSize outside tests
}

// New returns a codec for the given seed. The seed is copied. Only its last 32 KiB
// matter (deflate's window), as in zlib.
func New(seed []byte) *Codec {
	return &Codec{seed: bytes.Clone(seed), max: MaxTextSize}
}

var defaultCodec = sync.OnceValue(func() *Codec { return New(olSeed) })

// Default returns the codec with Open Library's seed (embedded from seed.txt, a
// byte-identical copy of testdata/fixtures/olcompress-seed.txt; no trailing newline,
// which the fixture's checksum confirms).
func Default() *Codec { return defaultCodec() }

// Encode compresses text as legacy stores it: deflate level 9 continuing from the
// seed, then the adler32 of seed+text. It fails only for a text over the limit,
// which Decode would refuse.
func (c *Codec) Encode(text []byte) ([]byte, error) {
	if len(text) > c.max {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(text), c.max)
	}
	var buf bytes.Buffer
	buf.Grow(len(text)/2 + 64)
	w, err := flate.NewWriterDict(&buf, flate.BestCompression, c.seed)
	if err != nil { // only for a bad level
		return nil, err
	}
	// Writes to a bytes.Buffer cannot fail.
	_, _ = w.Write(text)
	_ = w.Close()
	return binary.BigEndian.AppendUint32(buf.Bytes(), c.checksum(text)), nil
}

// Decode returns the text of a stored value. Every failure is an error, never a
// panic or an unbounded allocation: malformed, truncated or trailing data and a
// checksum mismatch wrap ErrCorrupt; a text over the limit wraps ErrTooLarge.
func (c *Codec) Decode(stored []byte) ([]byte, error) {
	if len(stored) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrCorrupt)
	}
	// bytes.Reader is an io.ByteReader, so flate reads from it directly and stops
	// at the end of the final block: the trailer is what is left in br.
	br := bytes.NewReader(stored)
	fr := flate.NewReaderDict(br, c.seed)
	defer fr.Close()
	text, err := io.ReadAll(io.LimitReader(fr, int64(c.max)+1))
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, fmt.Errorf("%w: truncated deflate data (%d bytes)", ErrCorrupt, len(stored))
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	case len(text) > c.max:
		return nil, fmt.Errorf("%w: decodes to over %d bytes (from %d stored)", ErrTooLarge, c.max, len(stored))
	}
	var sum [adlerSize]byte
	if n, _ := io.ReadFull(br, sum[:]); n < adlerSize {
		return nil, fmt.Errorf("%w: truncated checksum (%d of %d bytes)", ErrCorrupt, n, adlerSize)
	}
	if rest := br.Len(); rest > 0 {
		return nil, fmt.Errorf("%w: %d bytes after the checksum", ErrCorrupt, rest)
	}
	if got, want := binary.BigEndian.Uint32(sum[:]), c.checksum(text); got != want {
		return nil, fmt.Errorf("%w: adler32 mismatch (stored %08x, computed %08x)", ErrCorrupt, got, want)
	}
	return text, nil
}

// checksum is the zlib trailer legacy writes and checks: the stream never restarts
// after the seed, so the adler32 covers seed and text together.
func (c *Codec) checksum(text []byte) uint32 {
	h := adler32.New()
	_, _ = h.Write(c.seed)
	_, _ = h.Write(text)
	return h.Sum32()
}
