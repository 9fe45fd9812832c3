package envelope

import (
	"testing"

	"axis/axis/errs"
)

// Control characters are refused anywhere in a DocumentId: a CR arrives as &#xD; and
// would otherwise reach the axis's signed receipt, which no verifier could then check.
func TestParseDocumentIDControlCharacters(t *testing.T) {
	for _, in := range []string{
		"000.00.00.G22,2015/09/30,7816/VPCP\rTTĐT",
		"000.00.00.G22,2015/09/30,7816/VPCP\tTTĐT",
		"000.00.00.G22,2015/09/30,7816\n/VPCP",
		"000.00.00.G22,2015/09/30,7816/VPCP\x00",
		"000.00.00.G22,2015/09/30,7816/VPCP\u0085",
	} {
		if _, err := ParseDocumentID(in); !errs.Is(err, errs.InvalidEnvelope) {
			t.Errorf("ParseDocumentID(%q): %v, want invalid_envelope", in, err)
		}
	}
}
