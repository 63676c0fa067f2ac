// Package admin is the site's own view of the gateway: the admin API (JSON under /api/), the local web
// page, Prometheus /metrics, and /healthz and /readyz. One handler serves both of its listeners:
//
//   - the unix socket state_dir/admin.sock (0600), which the CLI uses; whoever can open it is trusted,
//     as with the state file itself;
//   - the TCP listener of [admin] listen (127.0.0.1:8080 by default), where every request needs the
//     token of state_dir/admin.token (as a bearer token, or through the page's login and its session
//     cookie), except /metrics, /healthz and /readyz from loopback and the page's assets.
//
// docs/operate.md is the user's side of all this.
package admin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/edgegw/edgegw/config"
	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/uplink/protocol"
)

// SocketName is the admin socket's file name in state_dir.
const SocketName = "admin.sock"

// Core is what the admin side reads and changes in the gateway (*gateway.Gateway is one).
type Core interface {
	QueryDevices(q gateway.DeviceQuery) (gateway.DevicePage, error)
	Twin(id string) (gateway.Twin, bool)
	Summary() gateway.Summary
	Claims() []gateway.Claim
	Claim(ctx context.Context, mac, serial, group, by string) (gateway.Claim, error)
	ClaimManyProgress(ctx context.Context, rows []gateway.ClaimRow, by string, progress func(done, total int)) []gateway.ClaimResult
	Unclaim(macOrID, by string) (gateway.Claim, error)
	AuditLog(deviceID string, since time.Time) ([]gateway.AuditEntry, error)
	Events(deviceID string, since time.Time, limit int) ([]gateway.Event, error)
	Running() bool
}

var _ Core = (*gateway.Gateway)(nil)

// Options are what a Server shows and changes. Zero values are documented per field.
type Options struct {
	// Gateway is the core. Required.
	Gateway Core
	// Profiles give the units of reported values on the device page; nil shows none.
	Profiles gateway.Profiles
	// Health returns the gateway's health as the health message carries it, with the uplink's and the
	// outbox's parts when the cloud is configured. Required.
	Health func() protocol.Health
	// SetCloud switches the uplink on or off (kept across restarts); nil when the configuration has no
	// cloud, and then the API and the page say so.
	SetCloud func(on bool) error
	// CheckStore answers whether the state store is open and readable (/readyz); nil skips the check.
	CheckStore func() error
	// StoreError returns the error of the last write of changed twins, nil when it succeeded; a
	// failing store makes the gateway degraded. nil: never.
	StoreError func() error
	// Listeners returns what each event listener (the SNMP trap receiver) counted; nil: none.
	Listeners func() []gateway.ListenerStats
	// Metrics serves /metrics; nil answers 404.
	Metrics http.Handler
	// StateDir holds admin.sock and admin.token. Required.
	StateDir string
	// Config is the [admin] table: the TCP listener, its TLS, the degraded-after time.
	Config config.Admin
	// MaxCSVBytes bounds an uploaded claims file; zero means 16 MiB.
	MaxCSVBytes int64
	// Version is shown on the page.
	Version string
	Logger  *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultMaxCSVBytes bounds a claims file: 100,000 rows of a MAC, a serial and a group fit in 8 MiB.
const DefaultMaxCSVBytes = 16 << 20

// Server is the admin side. Run serves it.
type Server struct {
	opts     Options
	log      *slog.Logger
	token    string
	tls      *tls.Config
	sessions *sessions
	pages    map[string]*template.Template

	sock net.Listener // the unix socket, once Listen made it

	mu      sync.Mutex
	tcpAddr string // the TCP listener's address once it listens
	tcpErr  error  // why it does not listen
}

// New checks the options, reads (or makes, 0600) the token in state_dir and loads the TLS certificate.
func New(opts Options) (*Server, error) {
	if opts.Gateway == nil || opts.Health == nil || opts.StateDir == "" {
		return nil, errors.New("admin: Gateway, Health and StateDir are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxCSVBytes <= 0 {
		opts.MaxCSVBytes = DefaultMaxCSVBytes
	}
	if opts.Config.DegradedAfter <= 0 {
		opts.Config.DegradedAfter = 5 * time.Minute
	}
	s := &Server{opts: opts, log: opts.Logger.With("component", "admin"), sessions: newSessions(opts.Now)}
	var err error
	if s.token, err = LoadToken(opts.StateDir, true); err != nil {
		return nil, err
	}
	if opts.Config.TLS() {
		cert, err := tls.LoadX509KeyPair(opts.Config.TLSCertFile, opts.Config.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("admin.tls_cert_file %s / tls_key_file %s: %w", opts.Config.TLSCertFile, opts.Config.TLSKeyFile, err)
		}
		s.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if s.pages, err = parsePages(); err != nil {
		return nil, err
	}
	return s, nil
}

// Token is the admin token (for tests and the daemon's own use; never logged).
func (s *Server) Token() string { return s.token }

// Addr is the TCP listener's address once it listens ("" before, or when it is off or failed).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tcpAddr
}

// listenerState is the TCP listener as /api/status shows it.
func (s *Server) listenerState() (addr string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tcpAddr, s.tcpErr
}

// Listen makes the unix socket (0600), refusing to take over one that answers: another daemon on this
// state_dir. Run calls it when it has not been called.
func (s *Server) Listen() error {
	if s.sock != nil {
		return nil
	}
	ln, err := listenSocket(filepath.Join(s.opts.StateDir, SocketName))
	if err != nil {
		return err
	}
	s.sock = ln
	return nil
}

// Run serves the unix socket and, when configured, the TCP listener, until ctx is cancelled (then nil).
// The socket is essential: failing to make it is an error. The TCP listener is not: when its address
// is taken, the error is logged and shown in the status, and it is tried again every 10 s, while the
// gateway goes on.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	sock := s.sock
	defer os.Remove(sock.Addr().String())
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		closed  bool
		servers []*http.Server
	)
	serve := func(ln net.Listener, h http.Handler, tlsCfg *tls.Config) {
		// A big claims import checks each serial live and may take minutes: the write timeout is a
		// bound against stuck clients, not a request budget.
		// Requests' contexts are Run's: they end when the daemon stops, so an import under way is cut
		// short, answering the rows it did not do (Shutdown alone waits for handlers, cancelling none).
		srv := &http.Server{Handler: h, BaseContext: func(net.Listener) context.Context { return ctx },
			ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 2 * time.Minute,
			WriteTimeout: 15 * time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10, TLSConfig: tlsCfg,
			ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
		mu.Lock()
		defer mu.Unlock()
		if closed { // the TCP listener bound while shutting down
			ln.Close()
			return
		}
		servers = append(servers, srv)
		wg.Go(func() {
			var err error
			if tlsCfg != nil {
				err = srv.ServeTLS(ln, "", "")
			} else {
				err = srv.Serve(ln)
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("admin listener stopped", "addr", ln.Addr().String(), "err", err)
			}
		})
	}
	serve(sock, s.handler(true), nil)
	if s.opts.Config.Listen != "" {
		wg.Go(func() {
			if ln := s.listenTCP(ctx); ln != nil {
				serve(ln, s.handler(false), s.tls)
			}
		})
	}
	<-ctx.Done()
	mu.Lock()
	closed = true
	mu.Unlock()
	sctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, srv := range servers {
		srv.Shutdown(sctx)
	}
	wg.Wait()
	return nil
}

// listenTCP binds the TCP listener, trying again every 10 s while the address is taken. It returns nil
// when ctx ends first.
func (s *Server) listenTCP(ctx context.Context) net.Listener {
	addr := s.opts.Config.Listen
	logged := false
	for {
		var lc net.ListenConfig
		ln, err := lc.Listen(ctx, "tcp", addr)
		s.mu.Lock()
		s.tcpErr = err
		if err == nil {
			s.tcpAddr = ln.Addr().String()
		}
		s.mu.Unlock()
		if err == nil {
			scheme := "http"
			if s.tls != nil {
				scheme = "https"
			}
			s.log.Info("admin page and API listening", "url", scheme+"://"+ln.Addr().String()+"/")
			return ln
		}
		if ctx.Err() != nil {
			return nil
		}
		if !logged {
			s.log.Error("admin page cannot listen; trying again every 10 s (the gateway goes on)", "addr", addr, "err", err)
			logged = true
		}
		select {
		case <-time.After(10 * time.Second):
		case <-ctx.Done():
			return nil
		}
	}
}

// listenSocket makes the unix socket, 0600, refusing to take over one that answers.
func listenSocket(path string) (net.Listener, error) {
	if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		c.Close()
		return nil, fmt.Errorf("admin socket %s answers: is another edgegw running on this state_dir?", path)
	}
	os.Remove(path) // a stale socket from a killed daemon
	old := umask(0o177)
	ln, err := net.Listen("unix", path)
	umask(old)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	return ln, nil
}
