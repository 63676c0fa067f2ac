package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/edgegw/edgegw/config"
	"github.com/edgegw/edgegw/drivers/profile"
	"github.com/edgegw/edgegw/drivers/snmp"
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
		for _, t := range c.Targets {
			g.Targets = append(g.Targets, snmp.Target{Host: t.Host, Port: t.Port, Prefix: t.Prefix})
		}
		out = append(out, g)
	}
	return out
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
