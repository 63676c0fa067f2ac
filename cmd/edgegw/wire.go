package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"golang.org/x/term"

	"github.com/edgegw/edgegw/config"
	"github.com/edgegw/edgegw/drivers/mdns"
	"github.com/edgegw/edgegw/drivers/modbus"
	"github.com/edgegw/edgegw/drivers/profile"
	"github.com/edgegw/edgegw/drivers/snmp"
	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/internal/neigh"
)

// snmpGroups turns the configuration's [[discovery.snmp]] tables into the driver's groups. This is the
// one place where secrets leave config.Secret, straight into the driver.
func snmpGroups(cfg *config.Config) []snmp.Group {
	var out []snmp.Group
	for i := range cfg.Discovery.SNMP {
		c := &cfg.Discovery.SNMP[i]
		g := snmp.Group{
			Credentials: snmp.Credentials{
				Name:           c.Name(),
				Version:        snmp.Version(c.Version),
				Community:      c.Community.Reveal(),
				WriteCommunity: c.WriteCommunity.Reveal(),
			},
			Timeout: c.Timeout,
			Retries: c.Retries,
		}
		if v := c.V3; v != nil {
			g.V3 = &snmp.V3Auth{
				User:         v.User,
				AuthProtocol: v.AuthProtocol,
				AuthPassword: v.AuthPassword.Reveal(),
				PrivProtocol: v.PrivProtocol,
				PrivPassword: v.PrivPassword.Reveal(),
				ContextName:  v.ContextName,
			}
		}
		g.Targets = targets(c.Targets)
		out = append(out, g)
	}
	return out
}

func targets(ts []config.Target) []gateway.Target {
	out := make([]gateway.Target, 0, len(ts))
	for _, t := range ts {
		out = append(out, gateway.Target{Host: t.Host, Port: t.Port, Prefix: t.Prefix})
	}
	return out
}

// modbusTables turns the configuration's [[discovery.modbus]] tables into the driver's tables.
func modbusTables(cfg *config.Config) []modbus.Table {
	var out []modbus.Table
	for i := range cfg.Discovery.Modbus {
		c := &cfg.Discovery.Modbus[i]
		t := modbus.Table{Name: c.Name(), Targets: targets(c.Targets), UnitIDs: c.UnitIDs, Timeout: c.Timeout, Profile: c.Profile}
		if c.Serial != "" {
			t.Targets = nil
			t.Serial = &modbus.Serial{Device: c.Serial, Baud: c.Baud, DataBits: c.DataBits, Parity: c.Parity, StopBits: c.StopBits}
		}
		out = append(out, t)
	}
	return out
}

// drivers are the protocol drivers a configuration asks for, as the gateway core takes them.
type drivers struct {
	discoverers []gateway.Discoverer
	pollers     map[string]gateway.Poller
	closers     []func() error
}

// Close closes every driver.
func (d *drivers) Close() {
	for _, c := range d.closers {
		c()
	}
}

// newDrivers builds one driver per protocol the configuration uses (SNMP always: it is also the
// reference for twins restored from the state store). This is the one place that knows them all.
func newDrivers(cfg *config.Config, lib *profile.Library, log *slog.Logger, progress func(done, total int)) (*drivers, error) {
	ds := &drivers{pollers: map[string]gateway.Poller{}}
	s, err := newSNMP(cfg, lib, log, progress)
	if err != nil {
		return nil, err
	}
	ds.add(snmp.Protocol, s, s.Close)
	if len(cfg.Discovery.Modbus) > 0 {
		m, err := modbus.New(modbus.Options{Tables: modbusTables(cfg), Profiles: lib, MaxAddresses: cfg.Discovery.MaxAddresses,
			Neighbors: neigh.Lookup, Logger: log})
		if err != nil {
			ds.Close()
			return nil, err
		}
		ds.add(modbus.Protocol, m, m.Close)
	}
	if c := cfg.Discovery.MDNS; c != nil {
		m, err := mdns.New(mdns.Options{Services: slices.Clone(c.Services), Interface: c.Interface, Timeout: c.Timeout,
			Profiles: lib, Neighbors: neigh.Lookup, Logger: log})
		if err != nil {
			ds.Close()
			return nil, err
		}
		ds.add(mdns.Protocol, m, m.Close)
	}
	return ds, nil
}

func (ds *drivers) add(protocol string, d interface {
	gateway.Discoverer
	gateway.Poller
}, closer func() error) {
	ds.discoverers = append(ds.discoverers, d)
	ds.pollers[protocol] = d
	ds.closers = append(ds.closers, closer)
}

// newSNMP builds the SNMP driver for a configuration.
func newSNMP(cfg *config.Config, lib *profile.Library, log *slog.Logger, progress func(done, total int)) (*snmp.Driver, error) {
	return snmp.New(snmp.Options{
		Groups:       snmpGroups(cfg),
		MaxAddresses: cfg.Discovery.MaxAddresses,
		Concurrency:  max(cfg.Discovery.Concurrency, cfg.Polling.Concurrency),
		Profiles:     lib,
		Progress:     progress,
		Logger:       log,
	})
}

// newLogger makes the process logger: text on a terminal, JSON otherwise (under systemd), unless the
// configuration says which.
func newLogger(w io.Writer, c config.Log) *slog.Logger {
	var level slog.Level
	switch strings.ToLower(c.Level) {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level}
	format := c.Format
	if format == "" || format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// loadConfig loads and validates the file, printing its warnings.
func loadConfig(path string, stderr io.Writer) (*config.Config, error) {
	if path == "" {
		return nil, usagef("--config FILE is required")
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintln(stderr, "warning:", w)
	}
	return cfg, nil
}
