package service

import (
	"bytes"
	"compress/gzip"
	"io"
	"sync"

	"connectrpc.com/connect"
)

// GzipOption replaces connect-go's gzip with one that remembers the compressed form of
// the last few large messages it compressed: with the status memoised (status.go) and
// its encoding remembered (codec.go), every browser polling or watching the same status
// then costs a copy instead of compressing 25 KB of JSON again. Output is ordinary gzip
// at the default level; small messages are compressed as usual.
func GzipOption() connect.HandlerOption {
	cache := &gzipCache{}
	return connect.WithCompression("gzip",
		func() connect.Decompressor { return &gzipReader{} },
		func() connect.Compressor { return &cachingGzip{cache: cache} })
}

// gzipReader is a gzip.Reader that can start empty, as connect-go's pool wants.
type gzipReader struct{ r *gzip.Reader }

func (g *gzipReader) Read(p []byte) (int, error) {
	if g.r == nil {
		return 0, io.EOF
	}
	return g.r.Read(p)
}

func (g *gzipReader) Close() error {
	if g.r == nil {
		return nil
	}
	return g.r.Close()
}

func (g *gzipReader) Reset(r io.Reader) error {
	if g.r == nil {
		zr, err := gzip.NewReader(r)
		g.r = zr
		return err
	}
	return g.r.Reset(r)
}

// minCachedGzip: smaller messages are not worth remembering.
const minCachedGzip = 8 << 10

// cachingGzip buffers a message and compresses it on Close, from the cache when the
// same bytes were compressed recently.
type cachingGzip struct {
	cache *gzipCache
	w     io.Writer
	in    bytes.Buffer
}

func (c *cachingGzip) Write(p []byte) (int, error) { return c.in.Write(p) }

func (c *cachingGzip) Reset(w io.Writer) { c.w, c.in = w, bytes.Buffer{} }

func (c *cachingGzip) Close() error {
	out, err := c.cache.compress(c.in.Bytes())
	if err != nil {
		return err
	}
	_, err = c.w.Write(out)
	return err
}

// gzipCache remembers the last few (input, compressed) pairs. A hit compares the whole
// input, so a collision cannot serve the wrong bytes.
type gzipCache struct {
	mu      sync.Mutex
	next    int
	entries [4]struct{ in, out []byte }
	writers sync.Pool
}

func (g *gzipCache) compress(in []byte) ([]byte, error) {
	cacheable := len(in) >= minCachedGzip
	if cacheable {
		g.mu.Lock()
		for _, e := range g.entries {
			if bytes.Equal(e.in, in) {
				g.mu.Unlock()
				return e.out, nil
			}
		}
		g.mu.Unlock()
	}
	var out bytes.Buffer
	zw, _ := g.writers.Get().(*gzip.Writer)
	if zw == nil {
		zw = gzip.NewWriter(&out)
	} else {
		zw.Reset(&out)
	}
	if _, err := zw.Write(in); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	g.writers.Put(zw)
	if cacheable {
		g.mu.Lock()
		g.entries[g.next].in, g.entries[g.next].out = bytes.Clone(in), out.Bytes()
		g.next = (g.next + 1) % len(g.entries)
		g.mu.Unlock()
	}
	return out.Bytes(), nil
}
