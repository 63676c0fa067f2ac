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
	"github.com/edgegw/edgegw/drivers/profile"
	"github.com/edgegw/edgegw/drivers/snmp"
	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/gateway/store"
)

// shutdownGrace bounds a clean shutdown: polls in flight are cancelled, twins flushed.
const shutdownGrace = 5 * time.Second

func cmdRun(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", "edgegw run --config FILE", stdout)
	cfgPath := fs.String("config", "", "configuration file (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath, stderr)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.Log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return daemon(ctx, cfg, log)
}

// daemon runs the gateway until ctx is cancelled.
func daemon(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	db, err := store.Open(cfg.Gateway.StateDir, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, w := range db.Warnings() {
		log.Warn(w)
	}
	lib, err := profile.Load(cfg.Profiles.Dirs)
	if err != nil {
		return err
	}
	drv, err := newSNMP(cfg, lib, log, nil)
	if err != nil {
		return err
	}
	defer drv.Close()
	gw, err := gateway.New(gateway.Options{
		Discoverers:       []gateway.Discoverer{drv},
		Pollers:           map[string]gateway.Poller{snmp.Protocol: drv},
		Profiles:          lib,
		Store:             db,
		DiscoveryInterval: cfg.Discovery.Interval,
		PollInterval:      cfg.Polling.Interval,
		PollJitter:        cfg.Polling.Jitter,
		PollConcurrency:   cfg.Polling.Concurrency,
		OfflineAfter:      cfg.Polling.OfflineAfter,
		OnPatch: func(p gateway.Patch) {
			log.Debug("reported", "device", p.DeviceID, "version", p.Version, "changed", formatValues(p.Values))
		},
		Logger: log,
	})
	if err != nil {
		return err
	}
	log.Info("edgegw started", "version", Version(), "gateway_id", cfg.Gateway.ID, "state", db.Path(),
		"snmp_groups", len(cfg.Discovery.SNMP), "profiles", len(lib.List()))
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("final write of twins: %w", err)
		}
		log.Info("stopped cleanly")
		return nil
	case <-time.After(shutdownGrace):
		return errors.New("shutdown took longer than 5 s; some polls did not stop")
	}
}

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
