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
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/edgegw/edgegw/config"
	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/gateway/store"
	"github.com/edgegw/edgegw/internal/logring"
	"github.com/edgegw/edgegw/uplink"
	"github.com/edgegw/edgegw/uplink/outbox"
	"github.com/edgegw/edgegw/uplink/protocol"
)

// shutdownGrace bounds a clean shutdown: polls in flight are cancelled, twins flushed.
const shutdownGrace = 5 * time.Second

func cmdRun(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", "edgegw run --config FILE", stdout)
	cfgPath := fs.String("config", "", "configuration file (required)")
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
	return daemon(ctx, protocols(), cfg, log)
}

// daemon runs the gateway until ctx is cancelled: discovery, polling, the state store, the admin
// socket and, when [cloud] is enabled, the uplink.
func daemon(ctx context.Context, ps protoSet, cfg *config.Config, log *slog.Logger) error {
	started := time.Now()
	// The newest log lines stay in memory for the cloud's logs-upload; they are never sent unasked.
	ring := logring.New(5000, 2<<20)
	log = slog.New(slog.NewMultiHandler(log.Handler(), slog.NewJSONHandler(ring, &slog.HandlerOptions{Level: slog.LevelInfo})))
	db, err := store.Open(cfg.Gateway.StateDir, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, w := range db.Warnings() {
		log.Warn(w)
	}
	lib, err := ps.loadProfiles(cfg.Profiles.Dirs)
	if err != nil {
		return err
	}
	drv, err := ps.newDrivers(cfg, lib, log, nil)
	if err != nil {
		return err
	}
	defer drv.Close()

	var up *uplink.Uplink
	var ob *outbox.Outbox
	if cfg.Cloud.Enabled {
		if ob, err = outbox.Open(db, outbox.Options{MaxBytes: int64(cfg.Cloud.OutboxMaxBytes), Merge: uplink.MergeState}); err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
		defer ob.Close()
	}
	var gw *gateway.Gateway
	publish := func(class outbox.Class, kind, device, coalesce string, body any) {
		if up == nil {
			return
		}
		if err := up.Publish(class, kind, device, coalesce, body); err != nil {
			log.Warn("could not queue a message for the cloud", "kind", kind, "device", device, "err", err)
		}
	}
	gw, err = gateway.New(gateway.Options{
		Discoverers:       drv.discoverers,
		Pollers:           drv.pollers,
		Profiles:          lib,
		Ranks:             ps.ranks(),
		Store:             db,
		DiscoveryInterval: cfg.Discovery.Interval,
		PollInterval:      cfg.Polling.Interval,
		PollJitter:        cfg.Polling.Jitter,
		PollConcurrency:   cfg.Polling.Concurrency,
		OfflineAfter:      cfg.Polling.OfflineAfter,
		OnPatch: func(p gateway.Patch) {
			log.Debug("reported", "device", p.DeviceID, "version", p.Version, "changed", formatValues(p.Values))
			publish(outbox.State, protocol.KindTwinReported, p.DeviceID, protocol.KindTwinReported,
				protocol.TwinReported{SchemaVersion: protocol.SchemaVersion, DeviceID: p.DeviceID, Version: p.Version, Reported: p.Values})
		},
		OnTwin: func(t gateway.Twin) {
			publish(outbox.State, protocol.KindTwinFull, t.DeviceID, protocol.KindTwinFull,
				protocol.TwinFull{SchemaVersion: protocol.SchemaVersion, Twin: t})
		},
		OnAudit: func(e gateway.AuditEntry) {
			publish(outbox.Control, protocol.KindAudit, e.DeviceID, "", protocol.Audit{SchemaVersion: protocol.SchemaVersion, Entry: e})
		},
		ClaimTTL:       cfg.Claims.PendingTTL,
		AuditRetention: cfg.Audit.Retention,
		OnReadings: func(id string, at time.Time, vals map[string]gateway.Value) {
			publish(outbox.Telemetry, protocol.KindTelemetry, id, "",
				protocol.Telemetry{SchemaVersion: protocol.SchemaVersion, DeviceID: id, Time: at.UTC(), Values: vals})
		},
		Logger: log,
	})
	if err != nil {
		return err
	}
	health := func() protocol.Health {
		st := gw.Stats()
		discovered, online, claimed := gw.Counts()
		return protocol.Health{SchemaVersion: protocol.SchemaVersion, GatewayID: cfg.Gateway.ID, Version: Version(),
			UptimeSeconds: time.Since(started).Round(time.Second).Seconds(),
			Devices:       protocol.Devices{Discovered: discovered, Online: online, Claimed: claimed},
			Polls:         st.Polls, PollErrors: st.PollErrors, LastDiscovery: st.LastDiscovery, DiscoveryPass: st.DiscoveryPasses}
	}
	sw := &cloudSwitch{db: db}
	if cfg.Cloud.Enabled {
		dial := uplink.DialConfigFor(cfg.Cloud, "edgegw-"+cfg.Gateway.ID)
		if cfg.Cloud.InsecurePlaintext {
			log.Warn("cloud.insecure_plaintext is set: the uplink may carry everything in clear text", "url", cfg.Cloud.URL)
		}
		up, err = uplink.New(uplink.Config{
			Dial:           dial,
			GatewayID:      cfg.Gateway.ID,
			UpAddress:      cfg.Cloud.Address(cfg.Cloud.UpAddress, cfg.Gateway.ID),
			DownAddress:    cfg.Cloud.Address(cfg.Cloud.DownAddress, cfg.Gateway.ID),
			Window:         cfg.Cloud.Window,
			ReconnectMax:   cfg.Cloud.ReconnectMax,
			HealthInterval: cfg.Cloud.HealthInterval,
			Enabled:        !sw.disabled(),
		}, uplink.Options{Outbox: ob, Handler: commandHandler{gw, ring}, Health: health, Logger: log})
		if err != nil {
			return err
		}
		sw.up = up
	}
	stopAdmin, err := serveAdmin(ctx, cfg.Gateway.StateDir, &adminState{health: health, up: up, sw: sw, gw: gw}, log)
	if err != nil {
		return err
	}
	defer stopAdmin()

	log.Info("edgegw started", "version", Version(), "gateway_id", cfg.Gateway.ID, "state", db.Path(),
		"discovery_tables", tableCount(cfg), "profiles", len(lib.List()), "cloud", cfg.Cloud.Enabled)
	defer notifySystemd(ctx, log, health)() // READY=1 and the watchdog under systemd (Type=notify)
	done := make(chan error, 2)
	go func() { done <- gw.Run(ctx) }()
	if up != nil {
		go func() { done <- up.Run(ctx) }()
	} else {
		done <- nil
	}
	<-ctx.Done()
	log.Info("shutting down")
	deadline := time.After(shutdownGrace)
	var errs []error
	for range 2 {
		select {
		case err := <-done:
			errs = append(errs, err)
		case <-deadline:
			return errors.New("shutdown took longer than 5 s; some polls did not stop")
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("final write of twins: %w", err)
	}
	log.Info("stopped cleanly")
	return nil
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

// adminState is what the admin socket shows and changes.
type adminState struct {
	gw     *gateway.Gateway
	health func() protocol.Health
	up     *uplink.Uplink
	sw     *cloudSwitch
}

func (a *adminState) Status() any {
	h := a.health()
	if a.up != nil {
		return a.up.Health(h)
	}
	h.Uplink.State = uplink.StateDisabled
	h.GeneratedAtUTC = time.Now().UTC()
	return h
}

func (a *adminState) SetCloud(on bool) error { return a.sw.set(on) }

func (a *adminState) Gateway() *gateway.Gateway { return a.gw }

// formatValues renders changed values as "a=1 b=on", sorted, for the log.
func formatValues(vals map[string]gateway.Value) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(vals)) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k + "=" + vals[k].String())
	}
	return b.String()
}

// tableCount is how many discovery tables the configuration has, all protocols together.
func tableCount(cfg *config.Config) int {
	n := 0
	for _, ts := range cfg.Discovery.Tables {
		n += len(ts)
	}
	return n
}
