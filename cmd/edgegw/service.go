package main

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unicode/utf16"

	"github.com/edgegw/edgegw/config"
)

// The Windows service (`edgegw service ...`). What can be said without Windows lives here and is
// tested on Linux; service_windows.go talks to the service manager, the event log and the ACLs.
const (
	serviceName        = "edgegw"
	serviceDisplayName = "edgegw edge gateway"
	serviceDescription = "Discovers the site's devices (SNMP, Modbus, mDNS), keeps a twin of each and carries claimed devices to the cloud over one outbound AMQP connection."
	// serviceAccount is the service's own virtual account: no password, no rights but its own, and a
	// SID (virtualServiceSID) that the configuration directory's ACL names.
	serviceAccount = `NT SERVICE\` + serviceName
	// Log file bounds: edgegw.log and up to serviceLogKeep older ones of serviceLogMaxBytes each.
	serviceLogMaxBytes = 10 << 20
	serviceLogKeep     = 5
)

const serviceUsage = `edgegw service install [--config FILE] [--account NAME]
       edgegw service uninstall|start|stop

The Windows service. install registers edgegw.exe (where it is now: put it in its final place first)
as the service "edgegw", started automatically at boot and restarted when it fails, running
"edgegw service run --config FILE" as its own virtual account NT SERVICE\edgegw. It makes the
configuration directory (default %ProgramData%\edgegw) with a starting configuration if there is none,
limits it to SYSTEM, Administrators and the service, and registers the event log source "edgegw".
uninstall stops and removes the service and its event source; the configuration, key and state stay.
Logs go to the Application event log (warnings and errors, start and stop) and to
DIR\logs\edgegw.log (everything at the configured level; 10 MiB files, 5 kept).
Run from an elevated prompt. On Linux the packages install a systemd unit instead:
systemctl enable --now edgegw.`

func cmdService(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("usage: %s", serviceUsage)
	}
	verb := args[0]
	if isHelp(verb) {
		fmt.Fprintf(stdout, "Usage: %s\n", serviceUsage)
		return nil
	}
	fs := newFlags("service "+verb, serviceUsage, stdout)
	var cfgPath, acct *string
	switch verb {
	case "install", "run":
		cfgPath = fs.String("config", filepath.Join(programDataDir(os.Getenv), initConfigName), "configuration file")
		if verb == "install" {
			acct = fs.String("account", serviceAccount, `account the service runs as ("LocalSystem" for the most privileged)`)
		}
	case "uninstall", "start", "stop":
	default:
		return usagef("edgegw service: unknown verb %q\n\nUsage: %s", verb, serviceUsage)
	}
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	switch verb {
	case "install":
		p, err := filepath.Abs(*cfgPath)
		if err != nil {
			return err
		}
		return serviceInstall(p, *acct, stdout)
	case "run":
		p, err := filepath.Abs(*cfgPath)
		if err != nil {
			return err
		}
		return serviceRun(p)
	default:
		return serviceControl(verb, stdout)
	}
}

// programDataDir is %ProgramData%\edgegw (C:\ProgramData\edgegw when the variable is unset).
func programDataDir(getenv func(string) string) string {
	pd := getenv("ProgramData")
	if pd == "" {
		pd = getenv("PROGRAMDATA")
	}
	if pd == "" {
		pd = `C:\ProgramData`
	}
	return strings.TrimRight(pd, `\/`) + `\` + serviceName
}

// serviceArgs are the arguments the service manager starts edgegw.exe with.
func serviceArgs(cfgPath string) []string { return []string{"service", "run", "--config", cfgPath} }

// virtualServiceSID is the SID of the virtual account NT SERVICE\name: S-1-5-80 followed by the
// SHA-1 of the upper-cased service name in UTF-16LE, read as five little-endian 32-bit numbers.
func virtualServiceSID(name string) string {
	u := utf16.Encode([]rune(strings.ToUpper(name)))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	sum := sha1.Sum(b)
	var sb strings.Builder
	sb.WriteString("S-1-5-80")
	for i := 0; i < 5; i++ {
		fmt.Fprintf(&sb, "-%d", binary.LittleEndian.Uint32(sum[4*i:]))
	}
	return sb.String()
}

// wellKnownSID is the SID (or SDDL alias) of an account that needs no lookup: the built-in service
// accounts and virtual service accounts.
func wellKnownSID(account string) (string, bool) {
	switch strings.ToLower(account) {
	case "", "localsystem", `nt authority\system`:
		return "SY", true
	case `nt authority\localservice`, `nt authority\local service`:
		return "LS", true
	case `nt authority\networkservice`, `nt authority\network service`:
		return "NS", true
	}
	if name, ok := strings.CutPrefix(strings.ToLower(account), `nt service\`); ok && name != "" {
		return virtualServiceSID(name), true
	}
	return "", false
}

// dirSDDL is the security descriptor of the configuration and state directory: a protected DACL
// (nothing inherited from %ProgramData%, where every user may read) giving full control to SYSTEM,
// the Administrators and the service's account, inherited by every file and folder in it.
func dirSDDL(serviceSID string) string {
	var b strings.Builder
	b.WriteString("D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)")
	if serviceSID != "" && serviceSID != "SY" && serviceSID != "BA" {
		fmt.Fprintf(&b, "(A;OICI;FA;;;%s)", serviceSID)
	}
	return b.String()
}

// svcCmd is what the service manager asks of a running service.
type svcCmd int

const (
	svcInterrogate svcCmd = iota
	svcStop               // Stop or Shutdown
)

// svcState is what the service tells the service manager.
type svcState int

const (
	svcStartPending svcState = iota
	svcRunning
	svcStopPending
	svcStopped
)

func (s svcState) String() string {
	return [...]string{"start pending", "running", "stop pending", "stopped"}[s]
}

// runService is the service's life: start run, report running, and on a stop command cancel run's
// context and wait for it. It returns run's error; a run that ends by itself without a stop command
// is an error even when it returned nil, so the service manager's recovery restarts it.
func runService(run func(ctx context.Context) error, cmds <-chan svcCmd, status func(svcState)) error {
	status(svcStartPending)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	state := svcRunning
	status(state)
	stopping := false
	for {
		select {
		case err := <-done:
			status(svcStopped)
			if err == nil && !stopping {
				err = errors.New("the gateway stopped by itself")
			}
			return err
		case c, ok := <-cmds:
			switch {
			case !ok:
				cmds = nil // no more commands: wait for run
			case c == svcInterrogate:
				status(state)
			case c == svcStop && !stopping:
				stopping, state = true, svcStopPending
				status(state)
				cancel()
			}
		}
	}
}

// eventSink is the Windows event log as the service writes to it (*eventlog.Log).
type eventSink interface {
	Info(eid uint32, msg string) error
	Warning(eid uint32, msg string) error
	Error(eid uint32, msg string) error
}

// eventID is the one event id edgegw writes; the message says the rest.
const eventID = 1

// eventHandler is a slog.Handler writing records at or above its level to the event log, each as one
// "message key=value ..." line (the event log has its own time and level).
type eventHandler struct {
	sink  eventSink
	level slog.Leveler
	mu    *sync.Mutex
	buf   *bytes.Buffer
	text  slog.Handler
}

func newEventHandler(sink eventSink, level slog.Leveler) *eventHandler {
	buf := &bytes.Buffer{}
	return &eventHandler{sink: sink, level: level, mu: &sync.Mutex{}, buf: buf,
		text: slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug,
			ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
				if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey || a.Key == slog.MessageKey) {
					return slog.Attr{}
				}
				return a
			}})}
}

func (h *eventHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *eventHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.buf.Reset()
	if err := h.text.Handle(ctx, r); err != nil {
		return err
	}
	msg := strings.TrimSpace(r.Message + " " + strings.TrimSuffix(h.buf.String(), "\n"))
	switch {
	case r.Level >= slog.LevelError:
		return h.sink.Error(eventID, msg)
	case r.Level >= slog.LevelWarn:
		return h.sink.Warning(eventID, msg)
	default:
		return h.sink.Info(eventID, msg)
	}
}

func (h *eventHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.text = h.text.WithAttrs(as)
	return &c
}

func (h *eventHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.text = h.text.WithGroup(name)
	return &c
}

// serviceLogger is the service's logger: everything at the configured level to the log file as JSON,
// warnings and errors to the event log as well.
func serviceLogger(c config.Log, file io.Writer, events eventSink) *slog.Logger {
	fileLog := newLogger(file, config.Log{Level: c.Level, Format: "json"})
	if c.Format == "text" {
		fileLog = newLogger(file, c)
	}
	return slog.New(slog.NewMultiHandler(fileLog.Handler(), newEventHandler(events, slog.LevelWarn)))
}

// rotatingFile is an append-only log file that moves itself aside when it reaches max bytes:
// path.1 is the newest old file, path.keep the oldest, anything older is deleted. The file is closed
// before it is renamed (Windows cannot rename an open file).
type rotatingFile struct {
	path string
	max  int64
	keep int

	mu   sync.Mutex
	f    *os.File
	size int64
}

func openRotating(path string, max int64, keep int) (*rotatingFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	r := &rotatingFile{path: path, max: max, keep: keep}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *rotatingFile) open() error {
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	r.f, r.size = f, fi.Size()
	return nil
}

func (r *rotatingFile) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return 0, os.ErrClosed
	}
	if r.size > 0 && r.size+int64(len(p)) > r.max {
		if err := r.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := r.f.Write(p)
	r.size += int64(n)
	return n, err
}

func (r *rotatingFile) rotate() error {
	if err := r.f.Close(); err != nil {
		return err
	}
	r.f = nil
	os.Remove(fmt.Sprintf("%s.%d", r.path, r.keep))
	for i := r.keep - 1; i >= 1; i-- {
		os.Rename(fmt.Sprintf("%s.%d", r.path, i), fmt.Sprintf("%s.%d", r.path, i+1))
	}
	if r.keep > 0 {
		if err := os.Rename(r.path, r.path+".1"); err != nil {
			return err
		}
	} else if err := os.Remove(r.path); err != nil {
		return err
	}
	return r.open()
}

// Close closes the file; it is idempotent.
func (r *rotatingFile) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}
