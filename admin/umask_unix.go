//go:build unix

package admin

import "syscall"

// umask sets the process umask and returns the old one: the admin socket is created 0600.
func umask(m int) int { return syscall.Umask(m) }
