//go:build unix

package main

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// raiseFileLimit makes sure the process may hold need open files: Go already lifts the soft limit to
// the hard one at start-up; past the hard limit it tries to raise that too (allowed as root). It says
// what it did, or why it could not, in one line (empty when nothing was needed).
func raiseFileLimit(need uint64) (note string, err error) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return "", fmt.Errorf("read the open-file limit: %w", err)
	}
	if lim.Cur >= need {
		return "", nil
	}
	want := unix.Rlimit{Cur: need, Max: max(lim.Max, need)}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &want); err != nil {
		return "", fmt.Errorf("needs %d open files but the limit is %d (hard %d) and raising it failed: %v; "+
			"raise it (ulimit -n %d, or LimitNOFILE= under systemd), or use a prefix (--listen 127.77.0.0/16) so devices share one socket",
			need, lim.Cur, lim.Max, err, need)
	}
	return fmt.Sprintf("raised the open-file limit from %d to %d", lim.Cur, need), nil
}
