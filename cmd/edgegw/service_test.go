package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/config"
)

func TestVirtualServiceSID(t *testing.T) {
	// Windows' own: NT SERVICE\TrustedInstaller.
	const trustedInstaller = "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"
	require.Equal(t, trustedInstaller, virtualServiceSID("TrustedInstaller"))
	require.Equal(t, trustedInstaller, virtualServiceSID("trustedinstaller"))
	sid, ok := wellKnownSID(`NT SERVICE\TrustedInstaller`)
	require.True(t, ok)
	require.Equal(t, trustedInstaller, sid)
	sid, ok = wellKnownSID(serviceAccount)
	require.True(t, ok)
	require.Equal(t, virtualServiceSID("edgegw"), sid)
}

func TestWellKnownSIDAndACL(t *testing.T) {
	for account, want := range map[string]string{
		"LocalSystem": "SY", "": "SY", `NT AUTHORITY\SYSTEM`: "SY",
		`NT AUTHORITY\LocalService`: "LS", `nt authority\network service`: "NS",
	} {
		sid, ok := wellKnownSID(account)
		require.True(t, ok, account)
		require.Equal(t, want, sid, account)
	}
	_, ok := wellKnownSID(`SITE\svc-edgegw`)
	require.False(t, ok, "a domain account is looked up on Windows")

	require.Equal(t, "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)", dirSDDL("SY"))
	require.Equal(t, "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;S-1-5-80-1-2-3-4-5)", dirSDDL("S-1-5-80-1-2-3-4-5"))
}

func TestProgramDataDir(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	require.Equal(t, `D:\Data\edgegw`, programDataDir(env(map[string]string{"ProgramData": `D:\Data\`})))
	require.Equal(t, `C:\ProgramData\edgegw`, programDataDir(env(nil)))
	require.Equal(t, []string{"service", "run", "--config", `C:\ProgramData\edgegw\edgegw.toml`},
		serviceArgs(`C:\ProgramData\edgegw\edgegw.toml`))
}

// serviceRecorder records what runService tells the service manager.
type serviceRecorder struct {
	mu     sync.Mutex
	states []svcState
	seen   chan svcState
}

func newServiceRecorder() *serviceRecorder { return &serviceRecorder{seen: make(chan svcState, 16)} }

func (r *serviceRecorder) status(s svcState) {
	r.mu.Lock()
	r.states = append(r.states, s)
	r.mu.Unlock()
	r.seen <- s
}

func (r *serviceRecorder) wait(t *testing.T, want svcState) {
	t.Helper()
	for {
		select {
		case s := <-r.seen:
			if s == want {
				return
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("the service never reported %s", want)
		}
	}
}

func (r *serviceRecorder) all() []svcState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]svcState(nil), r.states...)
}

func TestRunService(t *testing.T) {
	t.Run("stop", func(t *testing.T) {
		rec := newServiceRecorder()
		cmds := make(chan svcCmd)
		done := make(chan error, 1)
		// The gateway takes until release to stop, so that the second stop surely comes while it stops:
		// had it returned at once, runService could return before taking the second stop, and the send
		// below would wait forever (it did, once in CI).
		release := make(chan struct{})
		go func() {
			done <- runService(func(ctx context.Context) error { <-ctx.Done(); <-release; return nil }, cmds, rec.status)
		}()
		rec.wait(t, svcRunning)
		cmds <- svcInterrogate
		rec.wait(t, svcRunning)
		cmds <- svcStop
		cmds <- svcStop // a second stop while stopping changes nothing
		close(release)
		require.NoError(t, stopped(done))
		require.Equal(t, []svcState{svcStartPending, svcRunning, svcRunning, svcStopPending, svcStopped}, rec.all())
	})
	t.Run("the gateway fails", func(t *testing.T) {
		rec := newServiceRecorder()
		err := runService(func(context.Context) error { return errors.New("state.key does not match state.db") }, nil, rec.status)
		require.EqualError(t, err, "state.key does not match state.db")
		require.Equal(t, svcStopped, rec.all()[len(rec.all())-1])
	})
	t.Run("the gateway ends by itself", func(t *testing.T) {
		rec := newServiceRecorder()
		err := runService(func(context.Context) error { return nil }, nil, rec.status)
		require.ErrorContains(t, err, "stopped by itself") // so the service manager restarts it
	})
}

// fakeEvents is the event log.
type fakeEvents struct {
	mu     sync.Mutex
	events []string
}

func (f *fakeEvents) add(kind, msg string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, kind+": "+msg)
	return nil
}
func (f *fakeEvents) Info(_ uint32, msg string) error    { return f.add("info", msg) }
func (f *fakeEvents) Warning(_ uint32, msg string) error { return f.add("warning", msg) }
func (f *fakeEvents) Error(_ uint32, msg string) error   { return f.add("error", msg) }

func TestServiceLogger(t *testing.T) {
	dir := t.TempDir()
	file, err := openRotating(filepath.Join(dir, "logs", "edgegw.log"), serviceLogMaxBytes, serviceLogKeep)
	require.NoError(t, err)
	ev := &fakeEvents{}
	log := serviceLogger(config.Log{Level: "info", Format: "auto"}, file, ev)
	log.Debug("polled", "device", "mac-1")
	log.Info("edgegw started", "gateway_id", "gw-1")
	log.With("component", "uplink").Warn("uplink down", "err", errors.New("connection refused"))
	log.WithGroup("g").Error("cannot write the state", "path", `C:\ProgramData\edgegw\state\state.db`)
	require.NoError(t, file.Close())
	require.NoError(t, file.Close()) // idempotent

	require.Equal(t, []string{
		`warning: uplink down component=uplink err="connection refused"`,
		`error: cannot write the state g.path=C:\ProgramData\edgegw\state\state.db`,
	}, ev.events)
	data, err := os.ReadFile(filepath.Join(dir, "logs", "edgegw.log"))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	require.Len(t, lines, 3, "info and above, as JSON")
	require.Contains(t, lines[0], `"msg":"edgegw started"`)
	require.Contains(t, lines[0], `"gateway_id":"gw-1"`)
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(filepath.Join(dir, "logs", "edgegw.log"))
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	}
}

func TestRotatingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edgegw.log")
	r, err := openRotating(path, 100, 2)
	require.NoError(t, err)
	for i := range 12 {
		_, err := fmt.Fprintf(r, "line %02d %s\n", i, strings.Repeat("x", 30)) // 40 bytes: two lines a file
		require.NoError(t, err)
	}
	require.NoError(t, r.Close())
	_, err = r.Write([]byte("late\n"))
	require.ErrorIs(t, err, os.ErrClosed)
	read := func(p string) string {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		return string(b)
	}
	require.True(t, strings.HasPrefix(read(path), "line 10 "), read(path))
	require.True(t, strings.HasPrefix(read(path+".1"), "line 08 "))
	require.True(t, strings.HasPrefix(read(path+".2"), "line 06 "))
	_, err = os.Stat(path + ".3")
	require.ErrorIs(t, err, os.ErrNotExist, "only keep old files are kept")

	// Reopened, it appends and counts what is there.
	r, err = openRotating(path, 100, 2)
	require.NoError(t, err)
	_, err = r.Write([]byte(strings.Repeat("y", 30) + "\n"))
	require.NoError(t, err)
	require.NoError(t, r.Close())
	require.True(t, strings.HasPrefix(read(path), "y"), "80 + 31 bytes is past 100: a new file")
}

func TestServiceCommandOffWindows(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the verbs talk to the service manager there")
	}
	for _, verb := range []string{"install", "uninstall", "start", "stop"} {
		code, _, errOut := runCLI("service", verb)
		require.Equal(t, 1, code, verb)
		require.Contains(t, errOut, "systemctl enable --now edgegw", verb)
	}
	code, _, _ := runCLI("service")
	require.Equal(t, 2, code)
	code, _, _ = runCLI("service", "restart")
	require.Equal(t, 2, code)
	code, _, _ = runCLI("service", "install", "--bogus")
	require.Equal(t, 2, code)
	code, out, _ := runCLI("service", "--help")
	require.Equal(t, 0, code)
	require.Contains(t, out, `NT SERVICE\edgegw`)
}
