package envelope

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// envelope knows edXML only: no signing, storage, Kafka or HTTP (STYLE.md: import arrows
// never point back up).
func TestImports(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			switch {
			case path == "axis/axis/errs", path == "github.com/beevik/etree":
			case strings.Contains(path, "."), strings.HasPrefix(path, "axis/"), strings.HasPrefix(path, "net"):
				t.Errorf("%s imports %s", f, path)
			}
		}
	}
}
