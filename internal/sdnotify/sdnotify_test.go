package sdnotify

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeSystemd is the service manager's end of the notify socket.
type fakeSystemd struct {
	conn *net.UnixConn
	msgs chan string
}

func listen(t *testing.T, name string) *fakeSystemd {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	require.NoError(t, err)
	f := &fakeSystemd{conn: conn, msgs: make(chan string, 100)}
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(f.msgs)
				return
			}
			f.msgs <- string(buf[:n])
		}
	})
	t.Cleanup(func() { conn.Close(); wg.Wait() })
	return f
}

func (f *fakeSystemd) next(t *testing.T) string {
	t.Helper()
	select {
	case m := <-f.msgs:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("nothing arrived on the notify socket")
		return ""
	}
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      map[string]string
		enabled  bool
		watchdog time.Duration
		err      string
	}{
		{name: "not under systemd", env: nil},
		{name: "path", env: map[string]string{"NOTIFY_SOCKET": "/run/systemd/notify"}, enabled: true},
		{name: "abstract", env: map[string]string{"NOTIFY_SOCKET": "@/org/freedesktop/systemd1/notify/1"}, enabled: true},
		{name: "vsock refused", env: map[string]string{"NOTIFY_SOCKET": "vsock:2:1234"}, err: "only unix sockets"},
		{name: "watchdog", env: map[string]string{"NOTIFY_SOCKET": "/n", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"},
			enabled: true, watchdog: 30 * time.Second},
		{name: "watchdog without pid", env: map[string]string{"NOTIFY_SOCKET": "/n", "WATCHDOG_USEC": "1000"},
			enabled: true, watchdog: time.Millisecond},
		{name: "watchdog of another process", env: map[string]string{"NOTIFY_SOCKET": "/n", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "7"},
			enabled: true},
		{name: "watchdog garbage", env: map[string]string{"NOTIFY_SOCKET": "/n", "WATCHDOG_USEC": "soon"},
			enabled: true, err: "WATCHDOG_USEC"},
		{name: "watchdog zero", env: map[string]string{"NOTIFY_SOCKET": "/n", "WATCHDOG_USEC": "0"},
			enabled: true, err: "WATCHDOG_USEC"},
		{name: "watchdog without socket", env: map[string]string{"WATCHDOG_USEC": "1000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := New(env(tc.env), 42)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tc.enabled, n.Enabled())
			require.Equal(t, tc.watchdog, n.WatchdogInterval())
		})
	}
}

func TestNotifyWithoutSystemdDoesNothing(t *testing.T) {
	var n *Notifier
	require.NoError(t, n.Notify(Ready))
	n, err := New(env(nil), 1)
	require.NoError(t, err)
	require.NoError(t, n.Notify(Ready))
	n.Run(context.Background(), func() string { t.Fatal("alive called without systemd"); return "" }, nil) // returns at once
}

func TestNotifySendsOneDatagram(t *testing.T) {
	for _, name := range []string{filepath.Join(t.TempDir(), "notify"), "@edgegw-sdnotify-test-" + t.Name()} {
		t.Run(name[:1], func(t *testing.T) {
			f := listen(t, name)
			n, err := New(env(map[string]string{"NOTIFY_SOCKET": name}), 1)
			require.NoError(t, err)
			require.NoError(t, n.Notify(Ready, Status("3 devices\n2 online")))
			require.Equal(t, "READY=1\nSTATUS=3 devices 2 online\n", f.next(t))
		})
	}
}

func TestNotifyNoListener(t *testing.T) {
	name := filepath.Join(t.TempDir(), "gone")
	n, err := New(env(map[string]string{"NOTIFY_SOCKET": name}), 1)
	require.NoError(t, err)
	err = n.Notify(Ready)
	require.ErrorContains(t, err, "sd_notify "+name)
}

func TestRunFeedsWatchdogWhileAlive(t *testing.T) {
	name := filepath.Join(t.TempDir(), "notify")
	f := listen(t, name)
	n, err := New(env(map[string]string{"NOTIFY_SOCKET": name, "WATCHDOG_USEC": "40000"}), 1)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	stuck := make(chan struct{})
	calls := 0
	alive := func() string {
		calls++
		if calls == 4 {
			<-stuck // the daemon hangs: no more keep-alives
		}
		return "ok " + strings.Repeat("!", calls)
	}
	done := make(chan struct{})
	go func() { defer close(done); n.Run(ctx, alive, func(err error) { t.Error(err) }) }()

	require.Equal(t, "READY=1\nSTATUS=ok !\n", f.next(t))
	require.Equal(t, "WATCHDOG=1\nSTATUS=ok !!\n", f.next(t))
	require.Equal(t, "WATCHDOG=1\nSTATUS=ok !!!\n", f.next(t))
	// Hung: nothing for several intervals.
	select {
	case m := <-f.msgs:
		t.Fatalf("keep-alive %q sent while alive was blocked", m)
	case <-time.After(150 * time.Millisecond):
	}
	cancel()
	close(stuck)
	<-done
	require.Equal(t, "STOPPING=1\n", f.next(t))
}

func TestRunReportsEachErrorOnce(t *testing.T) {
	name := filepath.Join(t.TempDir(), "nobody-listens")
	n, err := New(env(map[string]string{"NOTIFY_SOCKET": name, "WATCHDOG_USEC": "10000"}), 1)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	var reported []error
	n.Run(ctx, func() string { return "" }, func(err error) { reported = append(reported, err) })
	require.Len(t, reported, 1)
	require.ErrorContains(t, reported[0], "sd_notify")
}
