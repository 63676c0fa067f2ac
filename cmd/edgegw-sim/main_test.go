package main

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// buffer is a goroutine-safe strings.Builder.
type buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--help"}, 0, "Usage: edgegw-sim"},
		{[]string{}, 2, "--snmp must be"},
		{[]string{"--snmp", "x"}, 2, "invalid value"},
		{[]string{"--bogus"}, 2, "flag provided but not defined"},
		{[]string{"--snmp", "2", "extra"}, 2, "unexpected argument"},
		{[]string{"--snmp", "2", "--listen", "192.168.1.10"}, 2, "not loopback"}, // parsed and refused before anything binds; never contacted
		{[]string{"--snmp", "2", "--listen", "0.0.0.0"}, 2, "not loopback"},
		{[]string{"--snmp", "2", "--listen", "10.0.0.0/24"}, 2, "not loopback"}, // parsed and refused before anything binds; never contacted
		{[]string{"--snmp", "300", "--listen", "127.0.10.0/24"}, 2, "254 host addresses"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr buffer
			code := run(t.Context(), tc.args, &stdout, &stderr)
			require.Equal(t, tc.code, code, stderr.String())
			require.Contains(t, stderr.String(), tc.want)
		})
	}
}

func TestRunServesAndStops(t *testing.T) {
	csvPath := filepath.Join(t.TempDir(), "devices.csv")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--snmp", "3", "--base-port", "0", "--devices-csv", csvPath, "--seed", "7"}, &stdout, &stderr)
	}()
	require.Eventually(t, func() bool { return strings.Contains(stdout.String(), "ready") }, 5*time.Second, 10*time.Millisecond,
		"stdout: %s\nstderr: %s", stdout.String(), stderr.String())
	require.Contains(t, stdout.String(), "sim-display-000")
	require.Contains(t, stdout.String(), "sim-ups-002")

	f, err := os.Open(csvPath)
	require.NoError(t, err)
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(t, f.Close())
	require.NoError(t, err)
	require.Len(t, rows, 4)
	require.Equal(t, []string{"MAC", "Serial", "Address", "Model"}, rows[0])
	require.Equal(t, "DP55", rows[1][3])
	require.Regexp(t, `^02:ed:67:`, rows[1][0])
	require.Regexp(t, `^SIM-BX4K-\d{6}$`, rows[2][1])

	// The address in the CSV answers.
	host, port, ok := strings.Cut(rows[3][2], ":")
	require.True(t, ok)
	g := &gosnmp.GoSNMP{Target: host, Version: gosnmp.Version2c, Community: "public", Timeout: time.Second, Retries: 1}
	p, err := strconv.ParseUint(port, 10, 16)
	require.NoError(t, err)
	g.Port = uint16(p)
	require.NoError(t, g.Connect())
	defer g.Conn.Close()
	res, err := g.Get([]string{".1.3.6.1.2.1.47.1.1.1.1.11.1"})
	require.NoError(t, err)
	require.Equal(t, rows[3][1], string(res.Variables[0].Value.([]byte)))

	cancel()
	select {
	case code := <-done:
		require.Equal(t, 0, code, stderr.String())
	case <-time.After(5 * time.Second):
		t.Fatal("run did not stop on cancel")
	}
	require.Contains(t, stdout.String(), "stopped: 1 requests received, 1 answered")
}

func TestCSVToStdoutAndSummary(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	var stdout, stderr buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--snmp", "30", "--base-port", "0", "--devices-csv", "-"}, &stdout, &stderr)
	}()
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "ready") }, 5*time.Second, 10*time.Millisecond)
	cancel()
	require.Equal(t, 0, <-done)
	rows, err := csv.NewReader(strings.NewReader(stdout.String())).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 31)
	require.Contains(t, stderr.String(), "30 SNMP devices")
	require.Contains(t, stderr.String(), "display 10, projector 10, ups 10")
}
