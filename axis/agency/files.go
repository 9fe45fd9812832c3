package agency

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"axis/axis/internal/durable"
)

// maxNameBytes bounds the DocumentId part of a file name: file systems allow 255 bytes,
// and the sha prefix, code and extension need room.
const maxNameBytes = 160

// SafeName turns a DocumentId (or an OrganId) into a file name part: letters and digits
// of any script, '.', '-' and '_' are kept, everything else (the '/' and ',' of every
// DocumentId, spaces, control characters) becomes '_'. The result never starts with '.',
// is never empty and is at most maxNameBytes long, cut on a character boundary. Distinct
// ids may map to the same name: callers add a hash prefix.
func SafeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == utf8.RuneError || !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' || r == '-' || r == '_') {
			r = '_'
		}
		if b.Len()+utf8.RuneLen(r) > maxNameBytes {
			break
		}
		b.WriteRune(r)
	}
	out := b.String()
	if out == "" || out[0] == '.' {
		out = "_" + out
		if len(out) > maxNameBytes {
			out = out[:maxNameBytes]
			for !utf8.ValidString(out) {
				out = out[:len(out)-1]
			}
		}
	}
	return out
}

// shortSHA is the prefix of a hex sha256 used in file names: 12 hex digits (48 bits) keep
// different versions of one DocumentId apart.
func shortSHA(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	return sum
}

// PackageFile is the file name of a delivered package.
func PackageFile(documentID, sum string) string {
	return SafeName(documentID) + "." + shortSHA(sum) + ".edxml"
}

// AnswerFile is the file name, in sent/, of the signed 01 answer to a delivered package
// of this DocumentId and sha256 (hex). The full sha256 makes it the record that this
// package was handled, whatever became of its file.
func AnswerFile(documentID, sum string) string {
	return SafeName(documentID) + "." + sum + ".01.xml"
}

// errOtherContent means a file with the name exists but holds other bytes.
var errOtherContent = errors.New("exists with other content")

// sameFile reports whether path holds exactly b. A missing file is (false, nil).
func sameFile(path string, b []byte) (bool, error) {
	old, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if len(old) == len(b) && sha256.Sum256(old) == sha256.Sum256(b) && bytes.Equal(old, b) {
		return true, nil
	}
	return false, fmt.Errorf("%s: %w", path, errOtherContent)
}

// writeAtomic writes b to path (its directory created if need be) whole or not at all,
// durably (durable.WriteFile).
func writeAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return durable.WriteFile(path, b, 0o644)
}

var syncDir = durable.SyncDir
