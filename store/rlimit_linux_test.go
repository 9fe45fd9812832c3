//go:build linux && !race

// Not under the race detector: its shadow memory takes terabytes of address space, so no
// address-space limit leaves it room to run.

package store

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestMappingUnderARealAddressSpaceLimit runs TestMappingUnderAnAddressSpaceLimit's case
// against the kernel: a child process limits its address space (RLIMIT_AS, as ulimit -v
// does) to what it uses plus 6 GiB, then opens a store and writes to it.
func TestMappingUnderARealAddressSpaceLimit(t *testing.T) {
	if dir := os.Getenv("AXIS_STORE_RLIMIT_DIR"); dir != "" {
		limit := vmSize(t) + 6<<30
		if err := syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: limit, Max: limit}); err != nil {
			t.Fatal(err)
		}
		s := must[*Store](t)(Open(dir, Options{Checkpoints: fakeSigner()}))
		if s.mapSize != 4<<30 {
			t.Errorf("mapped %d bytes with 6 GiB of address space left, want 4 GiB", s.mapSize)
		}
		work(t, s, "r", 10)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMappingUnderARealAddressSpaceLimit$", "-test.count=1")
	cmd.Env = append(os.Environ(), "AXIS_STORE_RLIMIT_DIR="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child under an address-space limit: %v\n%s", err, out)
	}
}

// vmSize is this process's address space in bytes (VmSize).
func vmSize(t *testing.T) uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmSize:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmSize in /proc/self/status")
	return 0
}
