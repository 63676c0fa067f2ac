//go:build !unix

package admin

func umask(m int) int { return 0 }
