package envelope

import (
	"strings"
	"time"
	"unicode"

	"axis/axis/errs"
)

// DocumentID is a parsed edXML DocumentId `OrganId,yyyy/MM/dd,Number/Notation`,
// e.g. `000.00.00.G22,2015/09/30,7816/VPCP-TTĐT`.
type DocumentID struct {
	OrganID  string // the issuing agency
	Date     string // yyyy/MM/dd, a real calendar date
	Number   string // before the first '/' of the third part
	Notation string // after it (may itself contain '/', e.g. 2019/TT-BTC)
}

// String reassembles the DocumentId.
func (d DocumentID) String() string {
	return d.OrganID + "," + d.Date + "," + d.Number + "/" + d.Notation
}

// ParseDocumentID parses a DocumentId. The OrganId part is only required to be non-empty
// and free of spaces (agency ids are not format-checked, see ParseOrganID).
func ParseDocumentID(s string) (DocumentID, error) {
	bad := func(format string, args ...any) (DocumentID, error) {
		return DocumentID{}, errs.E(errs.InvalidEnvelope, "DocumentId %q: "+format, append([]any{s}, args...)...)
	}
	// A control character (a CR or TAB sent as a character reference) has no place in
	// an identifier, and would make the axis's signed receipt unverifiable: XML
	// serialisation does not carry a literal CR through a parse.
	if strings.ContainsFunc(s, unicode.IsControl) {
		return bad("control character")
	}
	organ, rest, ok := strings.Cut(s, ",")
	if !ok {
		return bad("want OrganId,yyyy/MM/dd,Number/Notation")
	}
	date, code, ok := strings.Cut(rest, ",")
	if !ok {
		return bad("want OrganId,yyyy/MM/dd,Number/Notation")
	}
	if organ == "" || strings.ContainsAny(organ, " \t\r\n") {
		return bad("invalid OrganId part")
	}
	if _, err := ParseDate(date); err != nil {
		return bad("date part: %s", err.(*errs.Error).Msg)
	}
	num, notation, ok := strings.Cut(code, "/")
	if !ok || num == "" || notation == "" || strings.TrimSpace(num) != num {
		return bad("want Number/Notation after the date")
	}
	return DocumentID{OrganID: organ, Date: date, Number: num, Notation: notation}, nil
}

// OrganID is a parsed four-level agency id L4.L3.L2.L1 (e.g. 000.00.13.H53).
type OrganID struct {
	L4, L3, L2, L1 string
}

// String reassembles the id.
func (o OrganID) String() string { return o.L4 + "." + o.L3 + "." + o.L2 + "." + o.L1 }

// ParseOrganID reports whether s has the four-level form of QCVN 102: L4 three digits,
// L3 and L2 two digits, L1 an upper-case letter and two digits. Field documents carry
// malformed ids (28.22.H17); the axis does not reject them for that, the registry decides.
func ParseOrganID(s string) (OrganID, bool) {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return OrganID{}, false
	}
	if !digits(parts[0], 3) || !digits(parts[1], 2) || !digits(parts[2], 2) {
		return OrganID{}, false
	}
	l1 := parts[3]
	if len(l1) != 3 || l1[0] < 'A' || l1[0] > 'Z' || !digits(l1[1:], 2) {
		return OrganID{}, false
	}
	return OrganID{L4: parts[0], L3: parts[1], L2: parts[2], L1: l1}, true
}

func digits(s string, n int) bool {
	if n >= 0 && len(s) != n || len(s) == 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Date and timestamp layouts of edXML.
const (
	DateLayout      = "2006/01/02"
	TimestampLayout = "2006/01/02 15:04:05"
)

// Vietnam is the zone edXML dates and timestamps are written in (UTC+7, no DST).
var Vietnam = time.FixedZone("ICT", 7*60*60)

// ParseDate parses yyyy/MM/dd (a real calendar date) as midnight in Vietnam.
func ParseDate(s string) (time.Time, error) {
	if len(s) != len(DateLayout) {
		return time.Time{}, errs.E(errs.InvalidEnvelope, "%q is not a date yyyy/MM/dd", s)
	}
	t, err := time.ParseInLocation(DateLayout, s, Vietnam)
	if err != nil {
		return time.Time{}, errs.E(errs.InvalidEnvelope, "%q is not a valid date yyyy/MM/dd", s)
	}
	return t, nil
}

// ParseTimestamp parses yyyy/MM/dd HH:mm:ss (real date and time of day) in Vietnam time.
func ParseTimestamp(s string) (time.Time, error) {
	if len(s) != len(TimestampLayout) {
		return time.Time{}, errs.E(errs.InvalidEnvelope, "%q is not a timestamp yyyy/MM/dd HH:mm:ss", s)
	}
	t, err := time.ParseInLocation(TimestampLayout, s, Vietnam)
	if err != nil {
		return time.Time{}, errs.E(errs.InvalidEnvelope, "%q is not a valid timestamp yyyy/MM/dd HH:mm:ss", s)
	}
	return t, nil
}

// FormatDate writes t as an edXML date in Vietnam time.
func FormatDate(t time.Time) string { return t.In(Vietnam).Format(DateLayout) }

// FormatTimestamp writes t as an edXML timestamp in Vietnam time.
func FormatTimestamp(t time.Time) string { return t.In(Vietnam).Format(TimestampLayout) }
