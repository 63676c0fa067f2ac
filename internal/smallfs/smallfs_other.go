//go:build !linux

package smallfs

import (
	"errors"
	"testing"
)

// Mount skips: the tests that fill a file system run on Linux.
func Mount(t testing.TB, size int64) string { t.Skip("a small tmpfs needs Linux"); return "" }

// Fill is never reached off Linux.
func Fill(t testing.TB, dir, name string, max int64) string { t.Skip("Linux only"); return "" }

// FillFile is never reached off Linux.
func FillFile(dir, name string, max int64) (string, error) { return "", errors.New("Linux only") }

// Free is never reached off Linux.
func Free(dir string) (int64, error) { return 0, errors.New("Linux only") }

// Df is never reached off Linux.
func Df(dir string) string { return "" }
