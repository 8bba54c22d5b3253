package persistence

import (
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds a small ordered JSON value type with a parser and an encoder that
// reproduces Python's json.dumps(obj, indent=2) byte for byte. encoding/json cannot be
// used for this: it loses key order, rewrites numbers and escapes differently.
//
// Parsing follows Python's json.loads where it matters for our files: a repeated
// object key keeps the position of its first occurrence and the value of its last;
// only ' ', '\t', '\n' and '\r' are whitespace; trailing data is an error. Two
// deliberate differences: NaN/Infinity are rejected (legacy never writes them), and a
// lone UTF-16 surrogate escape decodes to U+FFFD (a Go string must stay valid UTF-8,
// or the service could not put it in a protobuf message).

type kind uint8

const (
	kindNull kind = iota
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

func (k kind) String() string {
	switch k {
	case kindNull:
		return "null"
	case kindBool:
		return "boolean"
	case kindNumber:
		return "number"
	case kindString:
		return "string"
	case kindArray:
		return "array"
	case kindObject:
		return "object"
	}
	return "invalid"
}

// value is one JSON value. Values are immutable once built: State shares them
// between clones.
type value struct {
	kind kind
	b    bool
	s    string // a string's text, or a number's literal text
	arr  []value
	obj  []member
	off  int // byte offset where the value starts in the parsed input
}

type member struct {
	key string
	val value
}

func stringValue(s string) value { return value{kind: kindString, s: s} }
func boolValue(b bool) value     { return value{kind: kindBool, b: b} }
func intValue(n int) value       { return value{kind: kindNumber, s: strconv.Itoa(n)} }

// maxDepth bounds nesting so that hostile input cannot exhaust the stack (Python's
// own limit is about 1000 through its recursion limit).
const maxDepth = 10000

// syntaxError is a parse failure at a byte offset.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string { return e.msg }

type parser struct {
	data  []byte
	pos   int
	depth int
}

// parseJSON parses exactly one JSON value, surrounded by optional whitespace.
func parseJSON(data []byte) (value, error) {
	p := &parser{data: data}
	p.skipSpace()
	v, err := p.value()
	if err != nil {
		return value{}, err
	}
	p.skipSpace()
	if p.pos < len(p.data) {
		return value{}, &syntaxError{p.pos, "extra data after the JSON value"}
	}
	return v, nil
}

func (p *parser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) unexpected(what string) error {
	if p.pos >= len(p.data) {
		return &syntaxError{p.pos, "unexpected end of input, " + what}
	}
	return &syntaxError{p.pos, fmt.Sprintf("unexpected %s, %s", describeByte(p.data[p.pos]), what)}
}

// describeByte names a byte for an error message without echoing more of the file.
func describeByte(c byte) string {
	if c > ' ' && c < utf8.RuneSelf && c != 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func (p *parser) value() (value, error) {
	if p.pos >= len(p.data) {
		return value{}, p.unexpected("want a value")
	}
	start := p.pos
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		s, err := p.str()
		return value{kind: kindString, s: s, off: start}, err
	case c == 't':
		return p.literal("true", value{kind: kindBool, b: true, off: start})
	case c == 'f':
		return p.literal("false", value{kind: kindBool, off: start})
	case c == 'n':
		return p.literal("null", value{kind: kindNull, off: start})
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	}
	return value{}, p.unexpected("want a value")
}

func (p *parser) literal(word string, v value) (value, error) {
	if len(p.data)-p.pos < len(word) || string(p.data[p.pos:p.pos+len(word)]) != word {
		return value{}, p.unexpected("want a value")
	}
	p.pos += len(word)
	return v, nil
}

func (p *parser) number() (value, error) {
	start := p.pos
	digits := func() int {
		n := 0
		for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	if p.data[p.pos] == '-' {
		p.pos++
	}
	if p.pos < len(p.data) && p.data[p.pos] == '0' {
		p.pos++
	} else if digits() == 0 {
		return value{}, p.unexpected("want a digit")
	}
	if p.pos < len(p.data) && p.data[p.pos] == '.' {
		p.pos++
		if digits() == 0 {
			return value{}, p.unexpected("want a digit after the decimal point")
		}
	}
	if p.pos < len(p.data) && (p.data[p.pos] == 'e' || p.data[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.data) && (p.data[p.pos] == '+' || p.data[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return value{}, p.unexpected("want a digit in the exponent")
		}
	}
	return value{kind: kindNumber, s: string(p.data[start:p.pos]), off: start}, nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return &syntaxError{p.pos, "nesting too deep"}
	}
	return nil
}

func (p *parser) array() (value, error) {
	v := value{kind: kindArray, off: p.pos}
	if err := p.enter(); err != nil {
		return value{}, err
	}
	p.pos++ // '['
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		p.depth--
		v.arr = []value{}
		return v, nil
	}
	for {
		p.skipSpace()
		elem, err := p.value()
		if err != nil {
			return value{}, err
		}
		v.arr = append(v.arr, elem)
		p.skipSpace()
		if p.pos < len(p.data) {
			switch p.data[p.pos] {
			case ',':
				p.pos++
				continue
			case ']':
				p.pos++
				p.depth--
				return v, nil
			}
		}
		return value{}, p.unexpected("want ',' or ']'")
	}
}

func (p *parser) object() (value, error) {
	v := value{kind: kindObject, off: p.pos, obj: []member{}}
	if err := p.enter(); err != nil {
		return value{}, err
	}
	p.pos++ // '{'
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		p.depth--
		return v, nil
	}
	var index map[string]int // built only for large objects
	for {
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return value{}, p.unexpected("want a string key")
		}
		key, err := p.str()
		if err != nil {
			return value{}, err
		}
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return value{}, p.unexpected("want ':'")
		}
		p.pos++
		p.skipSpace()
		elem, err := p.value()
		if err != nil {
			return value{}, err
		}
		// Python's dict keeps a repeated key where it first appeared, with the last value.
		at := -1
		if index != nil {
			if i, ok := index[key]; ok {
				at = i
			}
		} else {
			for i := range v.obj {
				if v.obj[i].key == key {
					at = i
					break
				}
			}
		}
		if at >= 0 {
			v.obj[at].val = elem
		} else {
			v.obj = append(v.obj, member{key, elem})
			if index != nil {
				index[key] = len(v.obj) - 1
			} else if len(v.obj) > 16 {
				index = make(map[string]int, 2*len(v.obj))
				for i, m := range v.obj {
					index[m.key] = i
				}
			}
		}
		p.skipSpace()
		if p.pos < len(p.data) {
			switch p.data[p.pos] {
			case ',':
				p.pos++
				continue
			case '}':
				p.pos++
				p.depth--
				return v, nil
			}
		}
		return value{}, p.unexpected("want ',' or '}'")
	}
}

// str parses a string starting at the opening quote.
func (p *parser) str() (string, error) {
	p.pos++ // opening quote
	start := p.pos
	// Fast path: no escapes.
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		if c == '"' {
			s := p.data[start:p.pos]
			if !utf8.Valid(s) {
				return "", p.invalidUTF8(start)
			}
			p.pos++
			return string(s), nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
		p.pos++
	}
	buf := append([]byte(nil), p.data[start:p.pos]...)
	for {
		if p.pos >= len(p.data) {
			return "", &syntaxError{p.pos, "unexpected end of input inside a string"}
		}
		c := p.data[p.pos]
		switch {
		case c == '"':
			if !utf8.Valid(buf) {
				return "", p.invalidUTF8(start)
			}
			p.pos++
			return string(buf), nil
		case c < 0x20:
			return "", &syntaxError{p.pos, fmt.Sprintf("control character 0x%02x inside a string", c)}
		case c != '\\':
			buf = append(buf, c)
			p.pos++
			continue
		}
		// An escape.
		if p.pos+1 >= len(p.data) {
			return "", &syntaxError{p.pos, "unexpected end of input inside a string"}
		}
		e := p.data[p.pos+1]
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := p.hex4(p.pos + 2)
			if !ok {
				return "", &syntaxError{p.pos, `invalid \u escape`}
			}
			p.pos += 6
			if utf16.IsSurrogate(r) {
				r2, ok2 := rune(-1), false
				if p.pos+1 < len(p.data) && p.data[p.pos] == '\\' && p.data[p.pos+1] == 'u' {
					r2, ok2 = p.hex4(p.pos + 2)
				}
				if dec := utf16.DecodeRune(r, r2); ok2 && dec != utf8.RuneError {
					r = dec
					p.pos += 6
				} else {
					r = utf8.RuneError // a lone surrogate; see the file comment
				}
			}
			buf = utf8.AppendRune(buf, r)
			continue
		default:
			return "", &syntaxError{p.pos, "invalid escape " + describeByte(e)}
		}
		p.pos += 2
	}
}

func (p *parser) invalidUTF8(start int) error {
	off := start
	for off < len(p.data) {
		r, n := utf8.DecodeRune(p.data[off:])
		if r == utf8.RuneError && n <= 1 {
			break
		}
		off += n
	}
	return &syntaxError{off, "invalid UTF-8 inside a string"}
}

func (p *parser) hex4(at int) (rune, bool) {
	if at+4 > len(p.data) {
		return 0, false
	}
	var r rune
	for _, c := range p.data[at : at+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}

// appendValue writes v the way Python's json.dumps(v, indent=2) does at nesting level
// depth: ",\n" between items, ": " after keys, empty containers inline.
func appendValue(buf []byte, v value, depth int) []byte {
	switch v.kind {
	case kindNull:
		return append(buf, "null"...)
	case kindBool:
		if v.b {
			return append(buf, "true"...)
		}
		return append(buf, "false"...)
	case kindNumber:
		return append(buf, v.s...)
	case kindString:
		return appendPyString(buf, v.s)
	case kindArray:
		if len(v.arr) == 0 {
			return append(buf, "[]"...)
		}
		buf = append(buf, '[')
		for i, e := range v.arr {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendNewline(buf, depth+1)
			buf = appendValue(buf, e, depth+1)
		}
		buf = appendNewline(buf, depth)
		return append(buf, ']')
	case kindObject:
		if len(v.obj) == 0 {
			return append(buf, "{}"...)
		}
		buf = append(buf, '{')
		for i, m := range v.obj {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendNewline(buf, depth+1)
			buf = appendPyString(buf, m.key)
			buf = append(buf, ": "...)
			buf = appendValue(buf, m.val, depth+1)
		}
		buf = appendNewline(buf, depth)
		return append(buf, '}')
	}
	panic("persistence: invalid JSON value kind")
}

func appendNewline(buf []byte, depth int) []byte {
	buf = append(buf, '\n')
	for range depth {
		buf = append(buf, "  "...)
	}
	return buf
}

const hexDigits = "0123456789abcdef"

// appendPyString writes s as Python's json.dumps does with ensure_ascii=True: only
// printable ASCII (' ' to '~') stays as is, except '"' and '\\'; everything else is an
// escape, with lowercase hex and surrogate pairs above U+FFFF. Invalid UTF-8 (which
// Parse never produces) is written as U+FFFD.
func appendPyString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= ' ' && c <= '~' {
			if c == '"' || c == '\\' {
				buf = append(buf, '\\')
			}
			buf = append(buf, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch c {
			case '\b':
				buf = append(buf, `\b`...)
			case '\f':
				buf = append(buf, `\f`...)
			case '\n':
				buf = append(buf, `\n`...)
			case '\r':
				buf = append(buf, `\r`...)
			case '\t':
				buf = append(buf, `\t`...)
			default:
				buf = appendU4(buf, rune(c))
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		if r >= 0x10000 {
			hi, lo := utf16.EncodeRune(r)
			buf = appendU4(buf, hi)
			buf = appendU4(buf, lo)
		} else {
			buf = appendU4(buf, r)
		}
	}
	return append(buf, '"')
}

func appendU4(buf []byte, r rune) []byte {
	return append(buf, '\\', 'u',
		hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}
