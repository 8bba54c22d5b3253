package service

import (
	"bytes"
	"compress/gzip"
	"io"
	"strings"
	"testing"
)

func TestCachingGzip(t *testing.T) {
	t.Parallel()
	cache := &gzipCache{}
	big := []byte(strings.Repeat(`{"number":13269,"title":"Test PR"},`, 1000))
	small := []byte(`{"version":"v1"}`)
	for _, in := range [][]byte{big, big, small, big[:len(big)-1], big} {
		var sink bytes.Buffer
		c := &cachingGzip{cache: cache}
		c.Reset(&sink)
		// connect-go writes the message in pieces.
		if _, err := c.Write(in[:len(in)/2]); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(in[len(in)/2:]); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		compressed := bytes.Clone(sink.Bytes())
		r := &gzipReader{}
		if err := r.Reset(&sink); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, in) {
			t.Fatalf("round trip of %d bytes = %d bytes, %v", len(in), len(got), err)
		}
		if _, err := gzip.NewReader(bytes.NewReader(compressed)); err != nil {
			t.Fatalf("not standard gzip: %v", err)
		}
	}
	hits := 0
	for _, e := range cache.entries {
		if e.in != nil {
			hits++
		}
	}
	if hits != 2 {
		t.Errorf("%d large inputs remembered; want 2 (the small one is not kept, the repeats are hits)", hits)
	}
}
