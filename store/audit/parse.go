package audit

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Record is one parsed export line.
type Record struct {
	Event Event
	Raw   []byte // the event value exactly as it appears in the line (what is hashed)
	Hash  string // the line's hash member
}

// ErrSyntax is wrapped by every parse error.
var ErrSyntax = errors.New("audit line syntax")

func syntaxErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrSyntax, fmt.Sprintf(format, args...))
}

// ParseLine parses one export line (without its newline) strictly: the members of SPEC §9
// in order, nothing else, no insignificant whitespace. It does not check the hash; see
// Verifier. Raw aliases line.
func ParseLine(line []byte) (Record, error) {
	var r Record
	if len(line) < len(linePrefix)+2+suffixLen || string(line[:len(linePrefix)]) != linePrefix {
		return r, syntaxErr(`line does not start with {"event":`)
	}
	tail := line[len(line)-suffixLen:]
	if string(tail[:len(hashPrefix)]) != hashPrefix || string(tail[len(tail)-len(lineSuffix):]) != lineSuffix {
		return r, syntaxErr(`line does not end with ,"hash":"<64 hex>"}`)
	}
	r.Hash = string(tail[len(hashPrefix) : len(hashPrefix)+64])
	if !isHex64(r.Hash) {
		return r, syntaxErr("hash is not 64 lowercase hex digits")
	}
	r.Raw = line[len(linePrefix) : len(line)-suffixLen]
	ev, err := parseEvent(r.Raw)
	if err != nil {
		return r, err
	}
	r.Event = ev
	return r, nil
}

type parser struct {
	b   []byte
	pos int
}

func (p *parser) lit(s string) error {
	if len(p.b)-p.pos < len(s) || string(p.b[p.pos:p.pos+len(s)]) != s {
		return syntaxErr("expected %s at offset %d", s, p.pos)
	}
	p.pos += len(s)
	return nil
}

func (p *parser) uint() (uint64, error) {
	start := p.pos
	for p.pos < len(p.b) && p.b[p.pos] >= '0' && p.b[p.pos] <= '9' {
		p.pos++
	}
	digits := string(p.b[start:p.pos])
	if digits == "" || (len(digits) > 1 && digits[0] == '0') {
		return 0, syntaxErr("seq is not a decimal integer without leading zeros")
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0, syntaxErr("seq out of range")
	}
	return n, nil
}

// str parses a JSON string (any valid JSON escapes are accepted; the bytes are hashed as
// written, so canonical form is not required) and rejects invalid UTF-8.
func (p *parser) str() (string, error) {
	if p.pos >= len(p.b) || p.b[p.pos] != '"' {
		return "", syntaxErr("expected string at offset %d", p.pos)
	}
	p.pos++
	var sb strings.Builder
	for {
		if p.pos >= len(p.b) {
			return "", syntaxErr("unterminated string")
		}
		c := p.b[p.pos]
		switch {
		case c == '"':
			p.pos++
			return sb.String(), nil
		case c < 0x20:
			return "", syntaxErr("control character in string at offset %d", p.pos)
		case c == '\\':
			if p.pos+1 >= len(p.b) {
				return "", syntaxErr("unterminated escape")
			}
			e := p.b[p.pos+1]
			p.pos += 2
			switch e {
			case '"', '\\', '/':
				sb.WriteByte(e)
			case 'b':
				sb.WriteByte('\b')
			case 'f':
				sb.WriteByte('\f')
			case 'n':
				sb.WriteByte('\n')
			case 'r':
				sb.WriteByte('\r')
			case 't':
				sb.WriteByte('\t')
			case 'u':
				r, err := p.hex4()
				if err != nil {
					return "", err
				}
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if p.pos+1 < len(p.b) && p.b[p.pos] == '\\' && p.b[p.pos+1] == 'u' {
						save := p.pos
						p.pos += 2
						if r2, err = p.hex4(); err != nil {
							return "", err
						}
						if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
							r = d
						} else {
							p.pos = save
							r = utf8.RuneError
						}
					} else {
						r = utf8.RuneError
					}
				}
				sb.WriteRune(r)
			default:
				return "", syntaxErr("bad escape \\%c", e)
			}
		case c < utf8.RuneSelf:
			sb.WriteByte(c)
			p.pos++
		default:
			r, size := utf8.DecodeRune(p.b[p.pos:])
			if r == utf8.RuneError && size == 1 {
				return "", syntaxErr("invalid UTF-8 at offset %d", p.pos)
			}
			sb.Write(p.b[p.pos : p.pos+size])
			p.pos += size
		}
	}
}

func (p *parser) hex4() (rune, error) {
	if len(p.b)-p.pos < 4 {
		return 0, syntaxErr("short \\u escape")
	}
	var r rune
	for _, c := range p.b[p.pos : p.pos+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, syntaxErr("bad \\u escape")
		}
	}
	p.pos += 4
	return r, nil
}

func parseEvent(b []byte) (Event, error) {
	var e Event
	p := &parser{b: b}
	if err := p.lit(`{"seq":`); err != nil {
		return e, err
	}
	seq, err := p.uint()
	if err != nil {
		return e, err
	}
	e.Seq = seq
	fields := [...]struct {
		name string
		dst  *string
	}{
		{"time", nil}, {"type", nil}, {"document_id", &e.DocumentID}, {"from", &e.From},
		{"to", &e.To}, {"sha256", &e.SHA256}, {"code", &e.Code}, {"detail", &e.Detail}, {"prev", &e.Prev},
	}
	var ts, typ string
	fields[0].dst, fields[1].dst = &ts, &typ
	for _, f := range fields {
		if err := p.lit(`,"` + f.name + `":`); err != nil {
			return e, err
		}
		s, err := p.str()
		if err != nil {
			return e, fmt.Errorf("%s: %w", f.name, err)
		}
		*f.dst = s
	}
	if err := p.lit("}"); err != nil {
		return e, err
	}
	if p.pos != len(b) {
		return e, syntaxErr("trailing bytes after event")
	}
	if !strings.HasSuffix(ts, "Z") {
		return e, syntaxErr("time is not UTC")
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return e, syntaxErr("time: %v", err)
	}
	e.Time = t
	e.Type = Type(typ)
	if !e.Type.Valid() {
		return e, syntaxErr("unknown event type %q", typ)
	}
	if !isHex64(e.Prev) {
		return e, syntaxErr("prev is not 64 lowercase hex digits")
	}
	return e, nil
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
