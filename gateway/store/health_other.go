//go:build !unix

package store

import "syscall"

// freeBytes cannot tell here: a successful write is taken as room.
func freeBytes(string) (int64, bool) { return 0, false }

func isQuota(syscall.Errno) bool { return false }
