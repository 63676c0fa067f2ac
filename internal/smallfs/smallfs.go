//go:build linux

// Package smallfs gives a test a small file system of its own, to fill up: a tmpfs of a given size
// mounted on a directory of the test's, unmounted when the test ends. Mounting needs root; without it
// the test is skipped, saying why — or fails, where every test must run (peers.InCI).
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

	"github.com/edgegw/edgegw/internal/peers"
)

// Mount mounts a tmpfs of size bytes (rounded up to whole pages by the kernel) on a new directory
// under t.TempDir() and returns the directory. The mount is private to nothing else: it is an
// ordinary mount, visible on the machine while the test runs, and gone after.
func Mount(t testing.TB, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		const msg = "mounting a small tmpfs to fill needs root"
		if peers.InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
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
// and returns its path; removing the file gives the room back. It fails the test on an error, so it is
// for the test's own goroutine; FillFile is the same for any other.
func Fill(t testing.TB, dir, name string, max int64) string {
	t.Helper()
	path, err := FillFile(dir, name, max)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// FillFile is Fill returning its error instead of failing a test.
func FillFile(dir, name string, max int64) (string, error) {
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return "", err
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
			return "", fmt.Errorf("fill %s: %w", path, err)
		}
	}
	return path, nil
}

// Free is how many bytes the file system holding dir has free.
func Free(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return int64(st.Bavail) * st.Bsize, nil
}

// Df is `df` of dir, for a test's log.
func Df(dir string) string {
	out, _ := exec.Command("df", "-h", dir).CombinedOutput()
	return string(out)
}
