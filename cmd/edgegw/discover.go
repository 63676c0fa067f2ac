package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/edgegw/edgegw/config"
	"github.com/edgegw/edgegw/drivers/snmp"
	"github.com/edgegw/edgegw/gateway"
)

// targetList collects repeated --target flags.
type targetList []string

func (t *targetList) String() string     { return strings.Join(*t, ",") }
func (t *targetList) Set(v string) error { *t = append(*t, v); return nil }

// discovered is one row of `discover --json`: exactly these keys, which scripts rely on.
type discovered struct {
	ID           string `json:"id"`
	Protocol     string `json:"protocol"`
	Address      string `json:"address"`
	Manufacturer string `json:"manufacturer"`
	Model        string `json:"model"`
	Serial       string `json:"serial"`
	Firmware     string `json:"firmware"`
	MAC          string `json:"mac"`
	Hostname     string `json:"hostname"`
	Profile      string `json:"profile"`
}

func cmdDiscover(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("discover", "edgegw discover [--config FILE] [--json] [--target URL]...", stdout)
	cfgPath := fs.String("config", "", "configuration file (optional when --target is given)")
	asJSON := fs.Bool("json", false, "print a JSON array instead of a table")
	var targets targetList
	fs.Var(&targets, "target", "an extra target, may be repeated: snmp://[community@]host[:port][?timeout=2s&retries=1] (v2c),\n"+
		"modbus://host[:port]?unit=1[&unit=2-4][&profile=NAME], modbus:///dev/ttyUSB0?unit=1[&baud=19200&parity=even],\n"+
		"mdns://_service._tcp?interface=IF[&timeout=2s]")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *cfgPath == "" && len(targets) == 0 {
		return usagef("edgegw discover: give --config FILE or at least one --target URL (see --help)")
	}
	cfg := config.Default()
	cfg.Gateway.ID = "discover"
	if *cfgPath != "" {
		var err error
		if cfg, err = protocols().loadConfig(*cfgPath, stderr); err != nil {
			return err
		}
	}
	for i, raw := range targets {
		if err := protocols().addTarget(cfg, raw, i); err != nil {
			return usagef("edgegw discover: --target %s: %v", redactURL(raw), err)
		}
	}
	lib, err := protocols().loadProfiles(cfg.Profiles.Dirs)
	if err != nil {
		return err
	}
	log := newLogger(stderr, config.Log{Level: "error", Format: cfg.Log.Format})
	progress := progressPrinter(stderr, "probed %d/%d addresses")
	start := time.Now()
	drv, err := protocols().newDrivers(cfg, lib, log, progress)
	if err != nil {
		return err
	}
	defer drv.Close()
	gw, err := gateway.New(gateway.Options{Discoverers: drv.discoverers, Profiles: lib, Logger: log})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := gw.Discover(ctx)
	if progress != nil {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if err != nil {
		return err
	}
	rows := make([]discovered, 0, len(res.Sightings))
	for _, s := range res.Sightings {
		id, _ := gateway.DeviceID(s)
		rows = append(rows, discovered{ID: id, Protocol: s.Protocol, Address: s.Address,
			Manufacturer: s.Identity.Manufacturer, Model: s.Identity.Model, Serial: s.Identity.Serial,
			Firmware: s.Identity.Firmware, MAC: s.Identity.MAC, Hostname: s.Identity.Hostname, Profile: s.Profile})
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rows); err != nil {
			return err
		}
	} else {
		printTable(stdout, rows)
	}
	for _, e := range res.Errors {
		fmt.Fprintln(stderr, "error:", e.Error())
	}
	// After a sweep of a range, say what became of every address: nobody answering is normal there.
	// The drivers that sweep count it themselves.
	var st snmp.SweepStats
	for _, d := range drv.discoverers {
		if s, ok := d.(sweeper); ok {
			last := s.LastSweep()
			st.Probed += last.Probed
			st.Found += last.Found
			st.Silent += last.Silent
			st.Failed += last.Failed
		}
	}
	if st.Probed >= 8 {
		fmt.Fprintf(stderr, "swept %d addresses in %s: %d found, %d silent, %d failed\n", st.Probed,
			time.Since(start).Round(100*time.Millisecond), st.Found, st.Silent, st.Failed)
	}
	if len(res.Errors) > 0 {
		if !*asJSON {
			fmt.Fprintf(stderr, "%d device(s) found, %d target(s) failed\n", len(rows), len(res.Errors))
		}
		return errSilent
	}
	return nil
}

// sweeper is a discoverer that counts what its last discovery pass found.
type sweeper interface{ LastSweep() snmp.SweepStats }

func printTable(w io.Writer, rows []discovered) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE ID\tPROTOCOL\tADDRESS\tMANUFACTURER\tMODEL\tSERIAL\tFIRMWARE\tMAC")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Protocol, r.Address, dash(r.Manufacturer),
			dash(r.Model), dash(r.Serial), dash(r.Firmware), dash(r.MAC))
	}
	tw.Flush()
	if len(rows) == 0 {
		fmt.Fprintln(w, "no devices answered")
	}
}

// progressPrinter shows "probed N/M" on stderr when it is a terminal and the sweep is big enough to
// wait for; nil otherwise.
func progressPrinter(stderr io.Writer, format string) func(done, total int) {
	f, ok := stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	var mu sync.Mutex
	var last time.Time
	return func(done, total int) {
		if total < 8 {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if done < total && time.Since(last) < 100*time.Millisecond {
			return
		}
		last = time.Now()
		fmt.Fprintf(f, "\r\033[K"+format, done, total)
	}
}
