package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"syscall"
	"time"

	"github.com/edgegw/edgegw/admin"
	"github.com/edgegw/edgegw/admin/metrics"
	"github.com/edgegw/edgegw/config"
	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/gateway/store"
	"github.com/edgegw/edgegw/internal/clock"
	"github.com/edgegw/edgegw/internal/logring"
	"github.com/edgegw/edgegw/internal/supervise"
	"github.com/edgegw/edgegw/uplink"
	"github.com/edgegw/edgegw/uplink/outbox"
	"github.com/edgegw/edgegw/uplink/protocol"
)

// shutdownGrace bounds how long each part of the daemon gets to stop (polls in flight cancelled, twins written).
const shutdownGrace = 5 * time.Second

func cmdRun(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", "edgegw run --config FILE [--new-state]", stdout)
	cfgPath := fs.String("config", "", "configuration file (required)")
	var opts runOptions
	fs.BoolVar(&opts.NewState, "new-state", false, "start with empty state when state_dir has a state.key but its state.db is missing or empty\n"+
		"(every claim and twin forgotten); without it the daemon refuses to start. Never empties a state.db that holds anything")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := protocols().loadConfig(*cfgPath, stderr)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.Log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return daemon(ctx, protocols(), cfg, log, opts)
}

// runOptions are edgegw run's switches that are not configuration: they hold for one start.
type runOptions struct {
	// NewState allows empty state beside an existing state.key (store.Options.NewState).
	NewState bool
}

// daemon runs the gateway until ctx is cancelled. It is a few parts under one supervisor (admin
// socket, discovery, polling, and the uplink when [cloud] is on) over the state store: the first
// part to fail stops the others and the daemon ends with its error. Shutdown is in that order: the
// admin socket and discovery stop taking work in, polls drain and the twins are written, the uplink
// stops after the last of their messages are in the outbox, and the store closes last. Every close
// after the parts stopped is bounded too (closeInOrder): the daemon always ends.
func daemon(ctx context.Context, ps protoSet, cfg *config.Config, log *slog.Logger, opts runOptions) (err error) {
	started := time.Now()
	// The newest log lines stay in memory for the cloud's logs-upload; they are never sent unasked.
	ring := logring.New(5000, 2<<20)
	log = slog.New(slog.NewMultiHandler(log.Handler(), slog.NewJSONHandler(ring, &slog.HandlerOptions{Level: slog.LevelInfo})))
	db, err := store.Open(cfg.Gateway.StateDir, &store.Options{NewState: opts.NewState})
	if err != nil {
		return err
	}
	var closing []closer // in opening order; closed in reverse
	defer func() { err = errors.Join(err, closeInOrder(closing, shutdownGrace)) }()
	closing = append(closing, closer{"the state store", db.Close})
	for _, w := range db.Warnings() {
		log.Warn(w)
	}
	// Once per change, not per write that failed.
	db.OnHealth(func(h store.Health) {
		if h.State == store.StateOK {
			log.Warn("state store writes again; what waited is being written and sent", "state", db.Path())
			return
		}
		msg := "state store full: new claims, settings and methods are refused and telemetry is not kept; polling goes on, " +
			"and twins and audit entries go up once there is room"
		if h.State == store.StateFailing {
			msg = "state store cannot write: new claims, settings and methods are refused; polling goes on"
		}
		log.Error(msg, "state", db.Path(), "err", h.Err)
	})
	lib, err := ps.loadProfiles(cfg.Profiles.Dirs)
	if err != nil {
		return err
	}
	drv, err := ps.newDrivers(cfg, lib, log, nil)
	if err != nil {
		return err
	}
	closing = append(closing, closer{"the drivers", func() error { drv.Close(); return nil }})

	// The uplink and the gateway know each other through two interfaces: the gateway hands what goes
	// up to the uplink's Sink, the uplink hands cloud commands to the gateway's handler.
	handler := &commandHandler{ring: ring}
	// Metrics: the gateway reports its timings to it; the rest is read at scrape time.
	met := metrics.New(ps.names())
	var gw *gateway.Gateway
	health := func() protocol.Health {
		st := gw.Stats()
		discovered, online, claimed := gw.Counts()
		return protocol.Health{SchemaVersion: protocol.SchemaVersion, GatewayID: cfg.Gateway.ID, Version: Version(),
			UptimeSeconds: time.Since(started).Round(time.Second).Seconds(),
			Devices:       protocol.Devices{Discovered: discovered, Online: online, Claimed: claimed},
			Store:         storeHealth(db),
			Process:       processHealth(),
			Polls:         st.Polls, PollErrors: st.PollErrors, PollsLate: st.PollsLate, LastDiscovery: st.LastDiscovery, DiscoveryPass: st.DiscoveryPasses}
	}
	sw := &cloudSwitch{db: db}
	var up *uplink.Uplink
	var ob *outbox.Outbox
	var sink gateway.Sink
	if cfg.Cloud.Enabled {
		ob, err = outbox.Open(db, outbox.Options{MaxBytes: int64(cfg.Cloud.OutboxMaxBytes), Merge: uplink.MergeState})
		if err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
		closing = append(closing, closer{"the outbox", ob.Close})
		if cfg.Cloud.InsecurePlaintext {
			log.Warn("cloud.insecure_plaintext is set: the uplink may carry everything in clear text", "url", cfg.Cloud.URL)
		}
		up, err = uplink.New(uplink.Config{
			Dial:           uplink.DialConfigFor(cfg.Cloud, "edgegw-"+cfg.Gateway.ID),
			GatewayID:      cfg.Gateway.ID,
			UpAddress:      cfg.Cloud.Address(cfg.Cloud.UpAddress, cfg.Gateway.ID),
			DownAddress:    cfg.Cloud.Address(cfg.Cloud.DownAddress, cfg.Gateway.ID),
			Window:         cfg.Cloud.Window,
			ReconnectMax:   cfg.Cloud.ReconnectMax,
			HealthInterval: cfg.Cloud.HealthInterval,
			TelemetryBatch: cfg.Cloud.TelemetryBatch,
			Enabled:        !sw.disabled(),
		}, uplink.Options{Outbox: ob, Handler: handler, Health: health, Logger: log})
		if err != nil {
			return err
		}
		sw.up, sink = up, up.Sink()
	}
	gw, err = gateway.New(gateway.Options{
		Discoverers:       drv.discoverers,
		Pollers:           drv.pollers,
		Profiles:          lib,
		Ranks:             ps.ranks(),
		Store:             db,
		Sink:              sink,
		DiscoveryInterval: cfg.Discovery.Interval,
		PollInterval:      cfg.Polling.Interval,
		PollJitter:        cfg.Polling.Jitter,
		PollConcurrency:   cfg.Polling.Concurrency,
		OfflineAfter:      cfg.Polling.OfflineAfter,
		ClaimTTL:          cfg.Claims.PendingTTL,
		MaxPending:        cfg.Claims.MaxPending,
		AuditRetention:    cfg.Audit.Retention,
		Observer:          met,
		Logger:            log,
	})
	if err != nil {
		return err
	}
	handler.gw = gw
	src := metrics.Sources{GatewayID: cfg.Gateway.ID, Version: Version(), Started: started, Gateway: gw}
	if up != nil {
		src.Uplink, src.Outbox = up, ob
	}
	src.Listeners = listenerStats(drv.listeners)
	met.Register(src)
	adm, err := admin.New(adminOptions(cfg, lib, gw, db, up, sw, health, met, drv.listeners, log))
	if err != nil {
		return err
	}
	// The socket at once, so that a second daemon on the same state_dir is refused before anything starts.
	if err := adm.Listen(); err != nil {
		return err
	}

	// In stopping order: intake first, delivery last. A listener's queued events are recorded before
	// polling stops and the twins are written.
	parts := []supervise.Part{{Name: "admin", Run: adm.Run}}
	for _, name := range slices.Sorted(maps.Keys(drv.listeners)) {
		l := drv.listeners[name]
		parts = append(parts, supervise.Part{Name: name + " listener", Run: func(ctx context.Context) error { return l.Listen(ctx, gw) }})
	}
	parts = append(parts,
		supervise.Part{Name: "discovery", Run: gw.RunDiscovery},
		supervise.Part{Name: "polling", Run: gw.RunPolling})
	if up != nil {
		parts = append(parts, supervise.Part{Name: "uplink", Run: up.Run})
	}
	log.Info("edgegw started", "version", Version(), "gateway_id", cfg.Gateway.ID, "state", db.Path(),
		"discovery_tables", tableCount(cfg), "profiles", len(lib.List()), "cloud", cfg.Cloud.Enabled)
	defer notifySystemd(ctx, log, health)() // READY=1 and the watchdog under systemd (Type=notify)
	stopping := context.AfterFunc(ctx, func() { log.Info("shutting down") })
	defer stopping()
	if err := supervise.Run(ctx, shutdownGrace, parts...); err != nil {
		log.Error("edgegw stopped", "err", err)
		return err
	}
	log.Info("stopped cleanly")
	return nil
}

// closer is something the daemon opened, to close when it ends.
type closer struct {
	name  string
	close func() error
}

// closeInOrder closes cs last first, giving each grace: one that takes longer (held up by a part that
// did not stop in time) is named in the error and left behind, and the rest are still closed.
func closeInOrder(cs []closer, grace time.Duration) error {
	var errs []error
	for _, c := range slices.Backward(cs) {
		done := make(chan error, 1)
		go func() { done <- c.close() }()
		select {
		case err := <-done:
			errs = append(errs, err)
		case <-time.After(grace):
			errs = append(errs, fmt.Errorf("closing %s did not finish within %s", c.name, grace))
		}
	}
	return errors.Join(errs...)
}

// cloudSwitch keeps `edgegw cloud disable` across restarts: a flag in the state store.
type cloudSwitch struct {
	db *store.DB
	up *uplink.Uplink
}

const (
	bucketSettings = "settings"
	keyCloudOff    = "cloud.disabled"
)

func (s *cloudSwitch) disabled() bool {
	_, err := s.db.Get(bucketSettings, keyCloudOff)
	return err == nil
}

func (s *cloudSwitch) set(on bool) error {
	if s.up == nil {
		return errors.New("the uplink is off in the configuration (cloud.enabled = false); set it there")
	}
	var err error
	if on {
		err = s.db.Delete(bucketSettings, keyCloudOff)
	} else {
		err = s.db.Put(bucketSettings, keyCloudOff, []byte("1"))
	}
	if err != nil {
		return fmt.Errorf("remember the cloud switch: %w", err)
	}
	s.up.SetEnabled(on)
	return nil
}

// adminOptions are what the admin side (page, API, metrics) shows and changes.
func adminOptions(cfg *config.Config, lib gateway.Profiles, gw *gateway.Gateway, db *store.DB, up *uplink.Uplink,
	sw *cloudSwitch, health func() protocol.Health, met *metrics.Metrics, listeners map[string]gateway.Listener, log *slog.Logger) admin.Options {
	opts := admin.Options{
		Gateway:  gw,
		Profiles: lib,
		Health: func() protocol.Health {
			h := health()
			if up != nil {
				return up.Health(h)
			}
			h.Uplink.State = uplink.StateDisabled
			h.GeneratedAtUTC = clock.Now().UTC()
			return h
		},
		CheckStore: func() error { return db.View(func(*store.Tx) error { return nil }) },
		StoreError: met.LastFlushError,
		Metrics:    met.Handler(),
		StateDir:   cfg.Gateway.StateDir,
		Config:     cfg.Admin,
		Version:    Version(),
		Logger:     log,
		Listeners:  listenerStats(listeners),
	}
	if up != nil {
		opts.SetCloud = sw.set
	}
	return opts
}

// processHealth is the process's part of health.
func processHealth() protocol.Process {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p := protocol.Process{Goroutines: runtime.NumGoroutine(), HeapBytes: ms.HeapAlloc}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		p.OpenFiles = len(fds)
	}
	return p
}

// storeHealth is the state store's part of health.
func storeHealth(db *store.DB) protocol.Store {
	h := db.Health()
	return protocol.Store{State: h.State, Since: h.Since, LastError: h.Err}
}

// tableCount is how many discovery tables the configuration has, all protocols together.
func tableCount(cfg *config.Config) int {
	n := 0
	for _, ts := range cfg.Discovery.Tables {
		n += len(ts)
	}
	return n
}

// listenerStats returns the counts of every listener that keeps them (the SNMP trap receiver), by
// protocol, for the admin API and /metrics.
func listenerStats(listeners map[string]gateway.Listener) func() []gateway.ListenerStats {
	return func() []gateway.ListenerStats {
		out := []gateway.ListenerStats{}
		for _, name := range slices.Sorted(maps.Keys(listeners)) {
			if s, ok := listeners[name].(gateway.StatsReporter); ok {
				out = append(out, s.ListenerStats())
			}
		}
		return out
	}
}
