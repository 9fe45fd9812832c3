package client

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"unicode/utf8"

	"axis/axis/errs"
)

// Acceptance is the part of a package answer that names what was accepted.
type Acceptance struct {
	DocumentID string
	SHA256     string
	Existing   bool // 200: identical bytes had been accepted before
}

// SubmitPackageAck posts signed package bytes like SubmitPackage, but decodes only
// document_id and sha256 of the answer. The rest (the receipt: a few KiB of escaped XML)
// is skipped, not decoded: for a load generator, decoding it was the largest single
// cost of a submission. A refusal is the same *errs.Error as SubmitPackage's; a 2xx
// answer without both fields is errs.Internal.
func (c *Client) SubmitPackageAck(ctx context.Context, b []byte) (Acceptance, error) {
	resp, err := c.send(ctx, http.MethodPost, "/v1/packages", nil, "application/xml", b)
	if err != nil {
		return Acceptance{}, err
	}
	defer resp.Body.Close()
	bp := answerBufs.Get().(*[]byte)
	defer answerBufs.Put(bp)
	body, err := readAnswer(resp.Body, (*bp)[:0])
	if cap(body) <= 64<<10 { // keep what grew, unless an odd answer made it large
		*bp = body[:0]
	}
	if err != nil {
		return Acceptance{}, errs.Wrap(errs.CodeOf(err), err, "reading the answer of POST /v1/packages")
	}
	a, err := DecodeAcceptance(body)
	if err != nil {
		return Acceptance{}, err
	}
	a.Existing = resp.StatusCode == http.StatusOK
	return a, nil
}

// answerBufs holds the read buffers of SubmitPackageAck: the answer is dropped once its
// two fields are copied out.
var answerBufs = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

// readAnswer appends r up to EOF to buf, refusing more than maxAnswer bytes.
func readAnswer(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > maxAnswer {
			return buf, errs.E(errs.Internal, "answer over %d bytes", maxAnswer)
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, errs.Wrap(errs.Unavailable, err, "connection")
		}
	}
}

// DecodeAcceptance reads document_id and sha256 (exact, case-sensitive keys; the last
// one wins, as in encoding/json) from a JSON object and skips every other member
// without decoding it. It checks the object's structure (strings, nesting, separators),
// not the grammar of skipped numbers and literals: it reads the daemon's answers, it
// is not a validator. Both fields must be non-empty strings.
func DecodeAcceptance(b []byte) (Acceptance, error) {
	var a Acceptance
	bad := func(why string) (Acceptance, error) {
		return Acceptance{}, errs.E(errs.Internal, "the answer to a package is not the expected JSON: %s", why)
	}
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return bad("not an object")
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		i++
	} else {
		for {
			if i >= len(b) || b[i] != '"' {
				return bad("member name expected")
			}
			end, err := skipString(b, i)
			if err != nil {
				return bad(err.Error())
			}
			key := b[i:end]
			i = skipSpace(b, end)
			if i >= len(b) || b[i] != ':' {
				return bad("':' expected")
			}
			i = skipSpace(b, i+1)
			var field *string
			switch string(key) { // no allocation: compared in place
			case `"document_id"`:
				field = &a.DocumentID
			case `"sha256"`:
				field = &a.SHA256
			}
			if field != nil {
				if i >= len(b) || b[i] != '"' {
					return bad(string(key) + " is not a string")
				}
				end, err = skipString(b, i)
				if err != nil {
					return bad(err.Error())
				}
				if *field, err = stringValue(b[i:end]); err != nil {
					return bad(err.Error())
				}
			} else if end, err = skipValue(b, i); err != nil {
				return bad(err.Error())
			}
			i = skipSpace(b, end)
			if i < len(b) && b[i] == ',' {
				i = skipSpace(b, i+1)
				continue
			}
			if i < len(b) && b[i] == '}' {
				i++
				break
			}
			return bad("',' or '}' expected")
		}
	}
	if skipSpace(b, i) != len(b) {
		return bad("data after the object")
	}
	if a.DocumentID == "" || a.SHA256 == "" {
		return bad("document_id or sha256 missing")
	}
	return a, nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// errJSON is a structural error of DecodeAcceptance (wrapped with the code there).
type errJSON string

func (e errJSON) Error() string { return string(e) }

// skipString returns the index after the string that starts with the quote at b[i]. An
// escaped quote is one preceded by an odd number of backslashes.
func skipString(b []byte, i int) (int, error) {
	j := i + 1
	for {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return 0, errJSON("unterminated string")
		}
		q := j + k
		n := 0
		for p := q - 1; p > i && b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return q + 1, nil
		}
		j = q + 1
	}
}

// skipValue returns the index after the value that starts at b[i].
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errJSON("value expected")
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		var room [16]byte
		stack := room[:0] // the closers expected, innermost last
		for j := i; j < len(b); {
			switch c := b[j]; c {
			case '"':
				end, err := skipString(b, j)
				if err != nil {
					return 0, err
				}
				j = end
				continue
			case '{':
				stack = append(stack, '}')
			case '[':
				stack = append(stack, ']')
			case '}', ']':
				if len(stack) == 0 || stack[len(stack)-1] != c {
					return 0, errJSON("mismatched " + string(c))
				}
				if stack = stack[:len(stack)-1]; len(stack) == 0 {
					return j + 1, nil
				}
			}
			j++
		}
		return 0, errJSON("unterminated " + string(b[i]))
	}
	// A number, true, false or null: up to the next separator.
	j := i
scan:
	for ; j < len(b); j++ {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			break scan
		case '{', '[', '"', ':':
			return 0, errJSON("malformed value")
		}
	}
	if j == i {
		return 0, errJSON("value expected")
	}
	return j, nil
}

// stringValue decodes a JSON string token. The daemon's ids and digests are plain
// ASCII and are copied as they are; anything with an escape, a control character or
// non-ASCII bytes goes through encoding/json, so the result is what it would give.
func stringValue(tok []byte) (string, error) {
	in := tok[1 : len(tok)-1]
	plain := true
	for _, c := range in {
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if plain {
		return string(in), nil
	}
	var s string
	if err := json.Unmarshal(tok, &s); err != nil {
		return "", errJSON("bad string")
	}
	return s, nil
}
