package sim

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// inNetns runs fn on an OS thread that has entered the named network namespace, so that the sockets
// fn makes belong to it (a socket stays in the namespace it was made in). It refuses the namespace of
// PID 1 — the host's — so that simulated multicast never reaches a real network.
func inNetns(name string, fn func() error) error {
	if name != filepath.Base(name) || name == "." || name == ".." {
		return fmt.Errorf("%q is not a network namespace name", name)
	}
	target, err := os.Open(filepath.Join("/var/run/netns", name))
	if err != nil {
		return fmt.Errorf("open netns %s (made with `ip netns add`?): %w", name, err)
	}
	defer target.Close()
	if same, err := sameNS(target, "/proc/1/ns/net"); err == nil && same {
		return errors.New("it is the host's own network namespace: refused (multicast must stay inside a test namespace)")
	}
	// On a goroutine of its own: if the thread cannot go back to its namespace, it stays locked and
	// Go ends it with the goroutine instead of reusing it.
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter netns %s: %w", name, err)
			return
		}
		// PID 1's namespace cannot always be read (a sandbox): refuse any namespace with an interface
		// that is neither loopback nor a veth, which is what a real network looks like.
		ferr := onlyVirtual()
		if ferr == nil {
			ferr = fn()
		}
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("leave netns %s: %w", name, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// onlyVirtual checks the current thread's namespace: loopback and veth interfaces only.
func onlyVirtual() error {
	ifs, err := net.Interfaces()
	if err != nil {
		return err
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback == 0 && !strings.HasPrefix(i.Name, "veth") {
			return fmt.Errorf("it has interface %s, which may reach a real network: refused (multicast must stay inside a test namespace of lo and veth interfaces)", i.Name)
		}
	}
	return nil
}

// sameNS reports whether the open namespace file f is the namespace at path.
func sameNS(f *os.File, path string) (bool, error) {
	a, err := f.Stat()
	if err != nil {
		return false, err
	}
	b, err := os.Stat(path)
	if err != nil {
		return false, err
	}
	sa, sb := a.Sys().(*syscall.Stat_t), b.Sys().(*syscall.Stat_t)
	return sa.Ino == sb.Ino && sa.Dev == sb.Dev, nil
}
