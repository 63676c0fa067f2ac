//go:build !linux

package smallfs

import "testing"

// Mount skips: the tests that fill a file system run on Linux.
func Mount(t testing.TB, size int64) string { t.Skip("a small tmpfs needs Linux"); return "" }

// Fill is never reached off Linux.
func Fill(t testing.TB, dir, name string, max int64) string { t.Skip("Linux only"); return "" }

// Free is never reached off Linux.
func Free(t testing.TB, dir string) int64 { t.Skip("Linux only"); return 0 }

// Df is never reached off Linux.
func Df(dir string) string { return "" }
