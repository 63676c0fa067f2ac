//go:build linux

// Package smallfs gives a test a small file system of its own, to fill up: a tmpfs of a given size
// mounted on a directory of the test's, unmounted when the test ends. Mounting needs root; without it
// the test is skipped, saying why.
package smallfs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// Mount mounts a tmpfs of size bytes (rounded up to whole pages by the kernel) on a new directory
// under t.TempDir() and returns the directory. The mount is private to nothing else: it is an
// ordinary mount, visible on the machine while the test runs, and gone after.
func Mount(t testing.TB, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs to fill needs root")
	}
	dir := filepath.Join(t.TempDir(), "smallfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
		t.Fatalf("mount a %d-byte tmpfs on %s: %v", size, dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// Fill writes a file named name in dir until the file system has no room left (or at most max bytes),
// and returns its path; removing the file gives the room back.
func Fill(t testing.TB, dir, name string, max int64) string {
	t.Helper()
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := bytes.Repeat([]byte{0xAA}, 4096)
	var n int64
	for n < max {
		w, err := f.Write(chunk)
		n += int64(w)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			t.Fatalf("fill %s: %v", path, err)
		}
	}
	return path
}

// Free is how many bytes the file system holding dir has free.
func Free(t testing.TB, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

// Df is `df` of dir, for a test's log.
func Df(dir string) string {
	out, _ := exec.Command("df", "-h", dir).CombinedOutput()
	return string(out)
}
