//go:build unix

package store

import "syscall"

// freeBytes is the room the file system holding dir has for an unprivileged writer.
func freeBytes(dir string) (int64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return int64(st.Bavail) * int64(st.Bsize), true
}

func isQuota(e syscall.Errno) bool { return e == syscall.EDQUOT }
