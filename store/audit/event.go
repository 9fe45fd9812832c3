// Package audit owns the tamper-evident audit log format of SPEC §9: the export line, the
// hash chain, checkpoint attestations and offline verification. It knows nothing of bbolt:
// the store persists the lines this package produces, and auditors verify them with it.
//
// Encoding, pinned so that an independent implementation can reproduce the bytes:
//
//	{"event":{"seq":N,"time":"T","type":"X","document_id":"…","from":"…","to":"…",
//	 "sha256":"…","code":"…","detail":"…","prev":"<64 hex>"},"hash":"<64 hex>"}
//
// on one line, no whitespace outside strings, members always present and in that order.
// seq is a decimal integer without leading zeros. time is RFC 3339 with the fractional
// seconds of Go's RFC3339Nano (trailing zeros dropped), always UTC ("Z"). Strings are
// written as raw UTF-8 except: '"' → \", '\\' → \\, and the bytes U+0000–U+001F, which are
// written \b \f \n \r \t where JSON has a short form and \u00xx (lowercase hex) otherwise.
// Nothing else is escaped: no HTML escaping of < > &, no \u2028. Invalid UTF-8 is replaced
// by U+FFFD (one per invalid byte), so every line is valid UTF-8 and valid JSON.
//
// hash = lowercase hex SHA-256( prev (64 ASCII hex) || "\n" || the event value's bytes ).
// The verifier hashes the event bytes exactly as they appear in the line, so a line written
// by another encoder (other escapes) still verifies as long as its structure is strict.
package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
	"unicode/utf8"
)

// Type is the kind of step an event records.
type Type string

// Event types of SPEC §9.
const (
	Accepted   Type = "accepted"
	Rejected   Type = "rejected"
	Published  Type = "published"
	Status     Type = "status"
	Forwarded  Type = "forwarded"
	Recall     Type = "recall"
	Replay     Type = "replay"
	Checkpoint Type = "checkpoint"
)

// Valid reports whether t is one of the types of SPEC §9.
func (t Type) Valid() bool {
	switch t {
	case Accepted, Rejected, Published, Status, Forwarded, Recall, Replay, Checkpoint:
		return true
	}
	return false
}

// ZeroHash is the prev of the first event.
const ZeroHash = "0000000000000000000000000000000000000000000000000000000000000000"

// Event is one audit step. Time is written in UTC.
type Event struct {
	Seq        uint64
	Time       time.Time
	Type       Type
	DocumentID string
	From       string
	To         string
	SHA256     string
	Code       string
	Detail     string
	Prev       string
}

// AppendJSON appends the event value (the bytes that are hashed) to dst.
func (e *Event) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"seq":`...)
	dst = strconv.AppendUint(dst, e.Seq, 10)
	dst = append(dst, `,"time":"`...)
	dst = e.Time.UTC().AppendFormat(dst, time.RFC3339Nano) // no character of it needs escaping
	dst = append(dst, '"')
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, string(e.Type))
	dst = append(dst, `,"document_id":`...)
	dst = appendString(dst, e.DocumentID)
	dst = append(dst, `,"from":`...)
	dst = appendString(dst, e.From)
	dst = append(dst, `,"to":`...)
	dst = appendString(dst, e.To)
	dst = append(dst, `,"sha256":`...)
	dst = appendString(dst, e.SHA256)
	dst = append(dst, `,"code":`...)
	dst = appendString(dst, e.Code)
	dst = append(dst, `,"detail":`...)
	dst = appendString(dst, e.Detail)
	dst = append(dst, `,"prev":`...)
	dst = appendString(dst, e.Prev)
	return append(dst, '}')
}

// FormatTime is the pinned time encoding: RFC3339Nano in UTC.
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Hash is the chain rule: hex SHA-256 of prev, "\n", then the event bytes.
func Hash(prev string, event []byte) string {
	h := sha256.New()
	h.Write([]byte(prev))
	h.Write([]byte{'\n'})
	h.Write(event)
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}

const (
	linePrefix = `{"event":`
	hashPrefix = `,"hash":"`
	lineSuffix = `"}`
	// suffixLen is the fixed length of `,"hash":"<64 hex>"}`.
	suffixLen = len(hashPrefix) + 64 + len(lineSuffix)
)

// Line encodes e (whose Prev must be set) as an export line without the trailing
// newline, and returns the line and the event's hash.
func Line(e *Event) (line []byte, hash string) {
	line = make([]byte, 0, 320+len(e.Detail)+len(e.To))
	line = append(line, linePrefix...)
	start := len(line)
	line = e.AppendJSON(line)
	hash = Hash(e.Prev, line[start:])
	line = append(line, hashPrefix...)
	line = append(line, hash...)
	line = append(line, lineSuffix...)
	return line, hash
}

// AppendLine appends the export line of e with the given hash member, without computing
// it: a store rebuilding lines from their fields writes the hash it recorded, so that any
// change to the fields since shows up as a hash mismatch when the line is verified.
func AppendLine(dst []byte, e *Event, hash string) []byte {
	dst = append(dst, linePrefix...)
	dst = e.AppendJSON(dst)
	dst = append(dst, hashPrefix...)
	dst = append(dst, hash...)
	return append(dst, lineSuffix...)
}

// Chain assigns seq and prev to successive events. The zero value starts a new log.
type Chain struct {
	Seq  uint64 // seq of the last event, 0 for an empty log
	Hash string // hash of the last event, "" (meaning ZeroHash) for an empty log
}

// Next fills e.Seq and e.Prev, encodes it and advances the chain.
func (c *Chain) Next(e *Event) []byte {
	e.Seq = c.Seq + 1
	e.Prev = c.Hash
	if e.Prev == "" {
		e.Prev = ZeroHash
	}
	line, h := Line(e)
	c.Seq, c.Hash = e.Seq, h
	return line
}

const hexdigits = "0123456789abcdef"

func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	// Identifiers and hex digests need no escaping: copy them whole.
	plain := 0
	for plain < len(s) && s[plain] >= 0x20 && s[plain] < utf8.RuneSelf && s[plain] != '"' && s[plain] != '\\' {
		plain++
	}
	dst = append(dst, s[:plain]...)
	for i := plain; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"':
				dst = append(dst, '\\', '"')
			case c == '\\':
				dst = append(dst, '\\', '\\')
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c == '\b':
				dst = append(dst, '\\', 'b')
			case c == '\f':
				dst = append(dst, '\\', 'f')
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hexdigits[c>>4], hexdigits[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, "\uFFFD"...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
