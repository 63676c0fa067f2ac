package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/admin"
	"github.com/edgegw/edgegw/config"
)

// TestRunRefusesKeyWithoutState: `edgegw run` on a state_dir whose state.key survived but whose
// state.db is empty (a restore that went wrong) exits 1 with a message naming both files and the
// switch, and leaves the files alone; with --new-state the daemon starts on empty state. It used to
// replace the empty file with empty state and say so only in a warning.
func TestRunRefusesKeyWithoutState(t *testing.T) {
	dir := t.TempDir()
	stateDir := filepath.Join(dir, "state")
	require.NoError(t, os.Mkdir(stateDir, 0o700))
	key := make([]byte, 32)
	keyPath, dbPath := filepath.Join(stateDir, "state.key"), filepath.Join(stateDir, "state.db")
	require.NoError(t, os.WriteFile(keyPath, key, 0o600))
	require.NoError(t, os.WriteFile(dbPath, nil, 0o600))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "profiles"), 0o750))
	cfgPath := filepath.Join(dir, "edgegw.toml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(starterFor("gw-state", "state", "profiles")), 0o640))

	code, _, errOut := runCLI("run", "--config", cfgPath)
	require.Equal(t, exitFailure, code, errOut)
	require.Contains(t, errOut, dbPath)
	require.Contains(t, errOut, keyPath)
	require.Contains(t, errOut, "edgegw run --new-state")
	info, err := os.Stat(dbPath)
	require.NoError(t, err)
	require.Zero(t, info.Size(), "the file is left as it was")

	_, out, _ := runCLI("run", "--help")
	require.Contains(t, out, "-new-state")

	cfg, err := config.Load(cfgPath, protocols().tableCodecs()...)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- daemon(ctx, protocols(), cfg, slog.New(slog.DiscardHandler), runOptions{NewState: true})
	}()
	require.Eventually(t, func() bool {
		c, err := net.Dial("unix", filepath.Join(stateDir, admin.SocketName))
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 10*time.Second, 20*time.Millisecond, "the daemon serves")
	cancel()
	require.NoError(t, stopped(done))
	info, err = os.Stat(dbPath)
	require.NoError(t, err)
	require.Positive(t, info.Size(), "a new state file")
}
