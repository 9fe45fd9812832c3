package loadgen

import (
	"os"
	"testing"
)

var tmpRoot string

// tempDir is a directory removed by TestMain (sync.Once values outlive a test's TempDir).
func tempDir() (string, error) { return os.MkdirTemp(tmpRoot, "loadgen-") }

func TestMain(m *testing.M) {
	var err error
	if tmpRoot, err = os.MkdirTemp("", "axis-loadgen-test-"); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(tmpRoot)
	os.Exit(code)
}
