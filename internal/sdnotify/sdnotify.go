// Package sdnotify tells systemd about a Type=notify service's state over the notify socket, as
// sd_notify(3) does: readiness, a status line, stopping, and watchdog keep-alives. It is a few lines
// of pure Go (no cgo, no libsystemd) and does nothing when the process was not started by systemd
// with a notify socket, so the same daemon runs unchanged in a terminal, in tests and on Windows.
package sdnotify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// States understood by systemd (sd_notify(3)).
const (
	Ready    = "READY=1"
	Stopping = "STOPPING=1"
	Watchdog = "WATCHDOG=1"
)

// Status is a one-line STATUS= state: what `systemctl status` shows under the unit.
func Status(line string) string {
	return "STATUS=" + strings.ReplaceAll(line, "\n", " ")
}

// Notifier sends states to the service manager. The zero value and a nil *Notifier send nothing.
type Notifier struct {
	addr     *net.UnixAddr // nil: not started by systemd with a notify socket
	watchdog time.Duration // 0: no watchdog
}

// New reads the service manager's environment through getenv (os.Getenv in a daemon): NOTIFY_SOCKET
// (a path, or "@name" for an abstract socket), WATCHDOG_USEC and WATCHDOG_PID. pid is the process's own
// id: a watchdog meant for another process (WATCHDOG_PID set and different) is ignored. An unusable
// value is an error; the Notifier returned with it still works for what was usable.
func New(getenv func(string) string, pid int) (*Notifier, error) {
	n := &Notifier{}
	var errs []error
	if sock := getenv("NOTIFY_SOCKET"); sock != "" {
		if strings.HasPrefix(sock, "/") || strings.HasPrefix(sock, "@") {
			// Go's net package turns a leading '@' into the abstract namespace.
			n.addr = &net.UnixAddr{Name: sock, Net: "unixgram"}
		} else {
			errs = append(errs, fmt.Errorf("NOTIFY_SOCKET %q: only unix sockets are supported", sock))
		}
	}
	if us := getenv("WATCHDOG_USEC"); us != "" && n.addr != nil {
		v, err := strconv.ParseUint(us, 10, 63)
		switch {
		case err != nil || v == 0:
			errs = append(errs, fmt.Errorf("WATCHDOG_USEC %q is not a positive number of microseconds", us))
		case getenv("WATCHDOG_PID") != "" && getenv("WATCHDOG_PID") != strconv.Itoa(pid):
			// The watchdog belongs to another process (a wrapper that exec'd us without passing it on).
		default:
			n.watchdog = time.Duration(v) * time.Microsecond
		}
	}
	return n, errors.Join(errs...)
}

// Enabled reports whether there is a service manager to tell.
func (n *Notifier) Enabled() bool { return n != nil && n.addr != nil }

// WatchdogInterval is the service's WatchdogSec= (0: none). Keep-alives go out at half of it.
func (n *Notifier) WatchdogInterval() time.Duration {
	if !n.Enabled() {
		return 0
	}
	return n.watchdog
}

// Notify sends states ("READY=1", Status("..."), ...) in one datagram. Without a service manager it
// does nothing and returns nil.
func (n *Notifier) Notify(states ...string) error {
	if !n.Enabled() || len(states) == 0 {
		return nil
	}
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sd_notify %s: %w", n.addr.Name, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(strings.Join(states, "\n") + "\n")); err != nil {
		return fmt.Errorf("sd_notify %s: %w", n.addr.Name, err)
	}
	return nil
}

// Run tells the service manager the service is ready, then, with a watchdog, sends a keep-alive every
// half interval for as long as alive returns; alive's result, when not "", is the status line sent with
// it. alive is called on Run's goroutine: a daemon whose alive blocks (a deadlock in what it checks)
// stops feeding the watchdog, and systemd restarts it, which is the point. When ctx is done Run sends
// STOPPING=1 and returns. Send errors go to report, each distinct one once.
func (n *Notifier) Run(ctx context.Context, alive func() string, report func(error)) {
	if !n.Enabled() {
		return
	}
	var last string
	send := func(states ...string) {
		err := n.Notify(states...)
		if err != nil && err.Error() != last && report != nil {
			report(err)
		}
		last = ""
		if err != nil {
			last = err.Error()
		}
	}
	states := []string{Ready}
	if s := alive(); s != "" {
		states = append(states, Status(s))
	}
	send(states...)
	defer send(Stopping)
	iv := n.WatchdogInterval() / 2
	if iv <= 0 {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			states := []string{Watchdog}
			if s := alive(); s != "" {
				states = append(states, Status(s))
			}
			if ctx.Err() != nil {
				return
			}
			send(states...)
		}
	}
}
