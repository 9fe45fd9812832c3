//go:build linux || darwin || freebsd

package axis

import "syscall"

// freeSpace is the space unprivileged writers may use in dir's file system.
func freeSpace(dir string) (uint64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return uint64(st.Bavail) * uint64(st.Bsize), true
}
