package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/edgegw/edgegw/config"
	"github.com/edgegw/edgegw/drivers/mdns"
	"github.com/edgegw/edgegw/drivers/modbus"
	"github.com/edgegw/edgegw/drivers/profile"
	"github.com/edgegw/edgegw/drivers/snmp"
	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/gateway/protocol"
)

// protocols are the protocol drivers this build knows, in one place: a new protocol is one folder
// under drivers/ and one line here.
func protocols() protoSet {
	return protoSet{
		snmp.Spec(),
		modbus.Spec(),
		mdns.Spec(),
	}
}

// protoSet is a set of protocols: what the configuration, the profiles, --target URLs and the daemon
// are read and built with. Tests add a protocol of their own to show that one folder and one line
// are all a protocol takes.
type protoSet []protocol.Spec

// tableCodecs are the protocols' [discovery.NAME] table readers and their drivers' own top-level
// tables ([traps]), for config.Load.
func (ps protoSet) tableCodecs() []config.TableCodec {
	var out []config.TableCodec
	for _, s := range ps {
		out = append(out, s.Config)
		out = append(out, s.Tables...)
	}
	return out
}

// loadProfiles loads the embedded profiles and the site's directories, each protocol reading its own
// parts of them.
func (ps protoSet) loadProfiles(dirs []string) (*profile.Library, error) {
	codecs := profile.Codecs{}
	for _, s := range ps {
		codecs[s.Name] = s.Profile
	}
	return profile.Load(dirs, codecs)
}

// ranks orders the protocols by how much their word on identity counts.
func (ps protoSet) ranks() map[string]int {
	out := map[string]int{}
	for _, s := range ps {
		out[s.Name] = s.Rank
	}
	return out
}

// names are the protocols' names, in order.
func (ps protoSet) names() []string {
	var out []string
	for _, s := range ps {
		out = append(out, s.Name)
	}
	return out
}

// drivers are the protocol drivers a configuration asks for, as the gateway core takes them.
type drivers struct {
	discoverers []gateway.Discoverer
	pollers     map[string]gateway.Poller
	// listeners receive what devices send on their own (SNMP traps), by protocol name.
	listeners map[string]gateway.Listener
	closers   []func() error
}

// Close closes every driver.
func (d *drivers) Close() {
	for _, c := range d.closers {
		c()
	}
}

// newDrivers builds a driver for every protocol the configuration has tables of.
func (ps protoSet) newDrivers(cfg *config.Config, lib *profile.Library, log *slog.Logger, progress func(done, total int)) (*drivers, error) {
	ds := &drivers{pollers: map[string]gateway.Poller{}, listeners: map[string]gateway.Listener{}}
	for _, s := range ps {
		tables := cfg.Discovery.Tables[s.Name]
		top := map[string][]config.Table{}
		for _, c := range s.Tables {
			if ts := cfg.Tables[c.Name]; len(ts) > 0 {
				top[c.Name] = ts
			}
		}
		if len(tables) == 0 && len(top) == 0 {
			continue
		}
		d, err := s.New(protocol.Options{Tables: tables, Top: top, GatewayID: cfg.Gateway.ID, Profiles: lib,
			MaxAddresses: cfg.Discovery.MaxAddresses, Concurrency: max(cfg.Discovery.Concurrency, cfg.Polling.Concurrency),
			ProbeRate: cfg.Discovery.ProbeRate, Progress: progress, Logger: log})
		if err != nil {
			ds.Close()
			return nil, err
		}
		ds.discoverers = append(ds.discoverers, d)
		ds.pollers[s.Name] = d
		ds.closers = append(ds.closers, d.Close)
		if l, ok := d.(gateway.Listener); ok && len(top) > 0 {
			ds.listeners[s.Name] = l
		}
	}
	return ds, nil
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
func (ps protoSet) loadConfig(path string, stderr io.Writer) (*config.Config, error) {
	if path == "" {
		return nil, usagef("--config FILE is required")
	}
	cfg, err := config.Load(path, ps.tableCodecs()...)
	if err != nil {
		return nil, err
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintln(stderr, "warning:", w)
	}
	return cfg, nil
}
