package service

import (
	"errors"
	"fmt"
	"sync"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
)

// Codecs are the handler options that serve a memoised GetStatusResponse (status.go)
// to many readers without encoding it again for each: the proto and JSON codecs
// remember the encoding of the last few status responses, by identity. They encode
// exactly as connect-go's own codecs do.
func Codecs() []connect.HandlerOption {
	return []connect.HandlerOption{
		GzipOption(),
		connect.WithCodec(newProtoCodec()),
		connect.WithCodec(newJSONCodec("json")),
		connect.WithCodec(newJSONCodec("json; charset=utf-8")),
	}
}

func newProtoCodec() *cachingCodec {
	return &cachingCodec{name: "proto", binary: true,
		marshal:   func(dst []byte, m proto.Message) ([]byte, error) { return proto.MarshalOptions{}.MarshalAppend(dst, m) },
		unmarshal: func(b []byte, m proto.Message) error { return proto.Unmarshal(b, m) },
	}
}

func newJSONCodec(name string) *cachingCodec {
	return &cachingCodec{name: name,
		marshal: func(dst []byte, m proto.Message) ([]byte, error) {
			return protojson.MarshalOptions{}.MarshalAppend(dst, m)
		},
		unmarshal: func(b []byte, m proto.Message) error {
			if len(b) == 0 {
				return errors.New("zero-length payload is not a valid JSON object")
			}
			// Unknown fields are dropped, as connect-go does, so clients and servers
			// need not run the same version of the schema.
			return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, m)
		},
	}
}

// cachedEncodings is how many status responses a codec remembers: the memoised one,
// and a few older ones still being sent to slow readers.
const cachedEncodings = 4

type cachingCodec struct {
	name      string
	binary    bool
	marshal   func(dst []byte, m proto.Message) ([]byte, error)
	unmarshal func(b []byte, m proto.Message) error

	mu   sync.Mutex
	next int
	memo [cachedEncodings]struct {
		msg  *testingv1.GetStatusResponse
		data []byte
	}
}

var _ connect.Codec = (*cachingCodec)(nil)

func (c *cachingCodec) Name() string   { return c.name }
func (c *cachingCodec) IsBinary() bool { return c.binary }

func (c *cachingCodec) Marshal(message any) ([]byte, error) { return c.MarshalAppend(nil, message) }

// MarshalAppend appends the encoding of message to dst. connect-go hands in a pooled
// buffer and keeps what is returned, so a remembered encoding is copied, never shared.
func (c *cachingCodec) MarshalAppend(dst []byte, message any) ([]byte, error) {
	m, ok := message.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("%T is not a proto.Message", message)
	}
	status, cacheable := m.(*testingv1.GetStatusResponse)
	if !cacheable {
		return c.marshal(dst, m)
	}
	c.mu.Lock()
	for _, e := range c.memo {
		if e.msg == status {
			c.mu.Unlock()
			return append(dst, e.data...), nil
		}
	}
	c.mu.Unlock()
	data, err := c.marshal(nil, m)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.memo[c.next].msg, c.memo[c.next].data = status, data
	c.next = (c.next + 1) % cachedEncodings
	c.mu.Unlock()
	return append(dst, data...), nil
}

func (c *cachingCodec) Unmarshal(data []byte, message any) error {
	m, ok := message.(proto.Message)
	if !ok {
		return fmt.Errorf("%T is not a proto.Message", message)
	}
	if err := c.unmarshal(data, m); err != nil {
		return fmt.Errorf("unmarshal into %T: %w", message, err)
	}
	return nil
}
