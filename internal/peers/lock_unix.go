//go:build unix

package peers

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Lock takes an exclusive lock named name that is shared by every test process on this machine, and
// releases it when the test ends. `go test ./...` runs packages in parallel processes: tests in two
// packages that change the same state of a shared peer (snmpd's sysLocation, a pymodbus register) take
// the same lock so that neither sees the other's writes.
func Lock(t testing.TB, name string) {
	t.Helper()
	dir := filepath.Dir(Path())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		dir = os.TempDir()
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock-"+name), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("peers lock %s: %v", name, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("peers lock %s: %v", name, err)
	}
	t.Cleanup(func() { f.Close() }) // closing the file releases the lock
}
