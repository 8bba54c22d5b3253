package olcompress

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
)

// HeadLen is the length of the heads legacy stores: it writes sha[:7].
const HeadLen = 7

// maxHeadLen is the longest head_sha ParseDrift accepts: a full SHA-1. Legacy writes
// 7 characters; a longer hex head is still a head.
const maxHeadLen = 40

// DriftEntry is one PR's value in the legacy drift cache.
type DriftEntry struct {
	// HeadSHA is the PR's head commit, or "" when unknown. MarshalDrift writes only
	// its first HeadLen characters, so callers pass the full SHA.
	HeadSHA string
	// Drift is how many commits the pinned head is behind the PR's head; -1 means
	// unknown (legacy writes -1 with an empty head).
	Drift int
	// Merged reports that the PR has been merged.
	Merged bool
}

// MarshalDrift returns the legacy value's JSON exactly as Python's json.dumps(d)
// writes it for an insertion-ordered dict: separators ", " and ": ", keys as
// decimal strings, non-ASCII escaped as \uXXXX (ensure_ascii), fields in legacy's
// order head_sha, drift, merged. Byte-exactness matters because the mirror compares
// values by their bytes and because legacy readers may do the same.
//
// Keys appear in the order of order; numbers in order without an entry are
// skipped, repeated numbers are written once (a dict has no duplicate keys), and
// entries whose number is not in order follow in ascending order, so nothing given
// is lost. HeadSHA is cut to its first HeadLen characters here (as legacy's
// sha[:7], counted in characters), so the value matches legacy's for any caller.
func MarshalDrift(order []int, entries map[int]DriftEntry) []byte {
	buf := make([]byte, 0, 2+len(entries)*64)
	buf = append(buf, '{')
	seen := make(map[int]bool, len(entries))
	write := func(n int) {
		e, ok := entries[n]
		if !ok || seen[n] {
			return
		}
		seen[n] = true
		if len(seen) > 1 {
			buf = append(buf, ", "...)
		}
		buf = append(buf, '"')
		buf = strconv.AppendInt(buf, int64(n), 10)
		buf = append(buf, `": {"head_sha": `...)
		buf = appendPyString(buf, truncateChars(e.HeadSHA, HeadLen))
		buf = append(buf, `, "drift": `...)
		buf = strconv.AppendInt(buf, int64(e.Drift), 10)
		buf = append(buf, `, "merged": `...)
		buf = strconv.AppendBool(buf, e.Merged)
		buf = append(buf, '}')
	}
	for _, n := range order {
		write(n)
	}
	if len(seen) < len(entries) {
		rest := make([]int, 0, len(entries)-len(seen))
		for n := range entries {
			if !seen[n] {
				rest = append(rest, n)
			}
		}
		slices.Sort(rest)
		for _, n := range rest {
			write(n)
		}
	}
	return append(buf, '}')
}

// truncateChars returns the first n characters of s, as Python's s[:n] does on a
// str. (Invalid UTF-8, which a Python str cannot hold, counts a byte per character.)
func truncateChars(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// appendPyString appends s as json.dumps writes a str with ensure_ascii: the short
// escapes \" \\ \n \r \t \b \f, everything else outside printable ASCII as \uXXXX
// in lowercase hex, astral characters as a surrogate pair. Invalid UTF-8 is written
// as U+FFFD, the character Go's decoders read it as.
func appendPyString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	u := func(buf []byte, r rune) []byte {
		return append(buf, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
	}
	buf = append(buf, '"')
	for _, r := range s {
		switch {
		case r == '"':
			buf = append(buf, '\\', '"')
		case r == '\\':
			buf = append(buf, '\\', '\\')
		case r == '\n':
			buf = append(buf, '\\', 'n')
		case r == '\r':
			buf = append(buf, '\\', 'r')
		case r == '\t':
			buf = append(buf, '\\', 't')
		case r == '\b':
			buf = append(buf, '\\', 'b')
		case r == '\f':
			buf = append(buf, '\\', 'f')
		case r >= ' ' && r <= '~':
			buf = append(buf, byte(r))
		case r > 0xffff:
			r -= 0x10000
			buf = u(buf, 0xd800+(r>>10))
			buf = u(buf, 0xdc00+(r&0x3ff))
		default: // controls, DEL, the rest of the BMP, and utf8.RuneError
			buf = u(buf, r)
		}
	}
	return append(buf, '"')
}

// ParseDrift reads a legacy drift value. It is tolerant of what does not change
// the meaning (key order, whitespace, fields it does not know, which a newer legacy
// may add) and strict about everything else, because a value it accepts is handed
// to the service as drift legacy resolved: the top level must be one object whose
// keys are PR numbers in canonical decimal (positive, no sign or leading zeros,
// each once); each value an object with exactly one each of head_sha (a string of
// at most 40 hex digits, "" when unknown), drift (an integer ≥ -1, no fraction or
// exponent) and merged (a boolean); nothing may follow the object.
//
// order lists the PR numbers in the value's key order.
func ParseDrift(data []byte) (order []int, entries map[int]DriftEntry, err error) {
	order, entries, err = parseDrift(data)
	if err != nil {
		return nil, nil, fmt.Errorf("olcompress: drift value: %w", err)
	}
	return order, entries, nil
}

func parseDrift(data []byte) ([]int, map[int]DriftEntry, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := expectDelim(dec, '{', "top level"); err != nil {
		return nil, nil, err
	}
	var order []int
	entries := make(map[int]DriftEntry)
	for dec.More() {
		key, err := stringToken(dec)
		if err != nil {
			return nil, nil, fmt.Errorf("key: %w", err)
		}
		n, err := strconv.Atoi(key)
		if err != nil || n <= 0 || strconv.Itoa(n) != key {
			return nil, nil, fmt.Errorf("key %q is not a PR number", key)
		}
		if _, dup := entries[n]; dup {
			return nil, nil, fmt.Errorf("PR %d appears twice", n)
		}
		e, err := parseEntry(dec)
		if err != nil {
			return nil, nil, fmt.Errorf("PR %d: %w", n, err)
		}
		entries[n] = e
		order = append(order, n)
	}
	if err := expectDelim(dec, '}', "top level"); err != nil {
		return nil, nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, nil, errors.New("data after the object")
	}
	return order, entries, nil
}

// parseEntry reads one PR's object; the decoder is positioned before its '{'.
func parseEntry(dec *json.Decoder) (DriftEntry, error) {
	if err := expectDelim(dec, '{', "entry"); err != nil {
		return DriftEntry{}, err
	}
	var e DriftEntry
	var haveHead, haveDrift, haveMerged bool
	for dec.More() {
		field, err := stringToken(dec)
		if err != nil {
			return e, err
		}
		var dup bool
		switch field {
		case "head_sha":
			dup, haveHead = haveHead, true
			e.HeadSHA, err = headToken(dec)
		case "drift":
			dup, haveDrift = haveDrift, true
			e.Drift, err = driftToken(dec)
		case "merged":
			dup, haveMerged = haveMerged, true
			e.Merged, err = boolToken(dec)
		default:
			err = skipValue(dec)
		}
		if dup {
			return e, fmt.Errorf("field %q appears twice", field)
		}
		if err != nil {
			return e, fmt.Errorf("%s: %w", field, err)
		}
	}
	if err := expectDelim(dec, '}', "entry"); err != nil {
		return e, err
	}
	switch {
	case !haveHead:
		return e, errors.New(`missing "head_sha"`)
	case !haveDrift:
		return e, errors.New(`missing "drift"`)
	case !haveMerged:
		return e, errors.New(`missing "merged"`)
	}
	return e, nil
}

func expectDelim(dec *json.Decoder, want json.Delim, what string) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%s: %w", what, syntaxErr(err))
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("%s: want %q, got %s", what, rune(want), describe(tok))
	}
	return nil
}

func stringToken(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", syntaxErr(err)
	}
	s, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("want a string, got %s", describe(tok))
	}
	return s, nil
}

func headToken(dec *json.Decoder) (string, error) {
	s, err := stringToken(dec)
	if err != nil {
		return "", err
	}
	if len(s) > maxHeadLen {
		return "", fmt.Errorf("%d bytes long, want at most %d hex digits", len(s), maxHeadLen)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return "", fmt.Errorf("%q is not hex", s)
		}
	}
	return s, nil
}

func driftToken(dec *json.Decoder) (int, error) {
	tok, err := dec.Token()
	if err != nil {
		return 0, syntaxErr(err)
	}
	num, ok := tok.(json.Number)
	if !ok {
		return 0, fmt.Errorf("want an integer, got %s", describe(tok))
	}
	n, err := strconv.Atoi(string(num)) // refuses fractions, exponents and overflow
	if err != nil {
		return 0, fmt.Errorf("%s is not an integer in range", num)
	}
	if n < -1 {
		return 0, fmt.Errorf("%d is below -1 (unknown)", n)
	}
	return n, nil
}

func boolToken(dec *json.Decoder) (bool, error) {
	tok, err := dec.Token()
	if err != nil {
		return false, syntaxErr(err)
	}
	b, ok := tok.(bool)
	if !ok {
		return false, fmt.Errorf("want a boolean, got %s", describe(tok))
	}
	return b, nil
}

// skipValue reads past one value of a field ParseDrift does not know.
func skipValue(dec *json.Decoder) error {
	var v json.RawMessage
	return syntaxErr(dec.Decode(&v))
}

// syntaxErr names a value that ends early, which the decoder reports as a bare EOF.
func syntaxErr(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func describe(tok json.Token) string {
	switch t := tok.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("string %q", t)
	case json.Number:
		return "number " + string(t)
	case bool:
		return "boolean " + strconv.FormatBool(t)
	case json.Delim:
		return fmt.Sprintf("%q", rune(t))
	}
	return fmt.Sprintf("%v", tok)
}
