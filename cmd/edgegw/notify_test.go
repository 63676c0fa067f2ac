package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/config"
)

// TestDaemonNotifiesSystemd plays systemd's side of Type=notify with WatchdogSec=: the daemon, started
// from the starting configuration, says READY=1 once it serves, keeps the watchdog fed with its device
// counts as status, and says STOPPING=1 when told to stop.
func TestDaemonNotifiesSystemd(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	require.NoError(t, err)
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "200000") // keep-alives every 100 ms
	t.Setenv("WATCHDOG_PID", "")

	require.NoError(t, os.Mkdir(filepath.Join(dir, "profiles"), 0o750))
	cfgPath := filepath.Join(dir, "edgegw.toml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(starterFor("gw-notify", "state", "profiles")), 0o640))
	cfg, err := config.Load(cfgPath, protocols().tableCodecs()...)
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- daemon(ctx, protocols(), cfg, slog.New(slog.DiscardHandler), runOptions{}) }()

	next := func() string {
		t.Helper()
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
		buf := make([]byte, 1024)
		n, err := conn.Read(buf)
		require.NoError(t, err)
		return string(buf[:n])
	}
	require.Equal(t, "READY=1\nSTATUS=0 devices, 0 online, 0 claimed\n", next())
	_, err = os.Stat(filepath.Join(dir, "state", "state.db"))
	require.NoError(t, err, "ready means the state store is open")
	for range 2 {
		require.Equal(t, "WATCHDOG=1\nSTATUS=0 devices, 0 online, 0 claimed\n", next())
	}
	cancel()
	for {
		m := next()
		if strings.HasPrefix(m, "WATCHDOG=1") {
			continue // one may have been on its way
		}
		require.Equal(t, "STOPPING=1\n", m)
		break
	}
	require.NoError(t, stopped(done))
}
