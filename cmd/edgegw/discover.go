package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/edgegw/edgegw/config"
	"github.com/edgegw/edgegw/drivers/profile"
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
		if cfg, err = loadConfig(*cfgPath, stderr); err != nil {
			return err
		}
	}
	for i, raw := range targets {
		if err := addTarget(cfg, raw, i); err != nil {
			return usagef("edgegw discover: --target %q: %v", raw, err)
		}
	}
	lib, err := profile.Load(cfg.Profiles.Dirs)
	if err != nil {
		return err
	}
	log := newLogger(stderr, config.Log{Level: "error", Format: cfg.Log.Format})
	progress := progressPrinter(stderr)
	drv, err := newDrivers(cfg, lib, log, progress)
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
	if len(res.Errors) > 0 {
		if !*asJSON {
			fmt.Fprintf(stderr, "%d device(s) found, %d target(s) failed\n", len(rows), len(res.Errors))
		}
		return errSilent
	}
	return nil
}

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

// parseTargetURL reads snmp://[community@]host[:port][?timeout=2s&retries=1]. The scheme is required so later protocols
// (modbus://, mdns://) fit the same flag. Timing comes from the first configured SNMP table, if any.
func parseTargetURL(raw string, like []config.SNMP) (config.SNMP, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return config.SNMP{}, err
	}
	if u.Scheme != "snmp" {
		return config.SNMP{}, fmt.Errorf("unsupported scheme %q (want snmp://)", u.Scheme)
	}
	if u.Host == "" {
		return config.SNMP{}, fmt.Errorf("no host (want snmp://[community@]host[:port])")
	}
	if u.Path != "" && u.Path != "/" {
		return config.SNMP{}, fmt.Errorf("unexpected path %q", u.Path)
	}
	var port uint16 = 161
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return config.SNMP{}, fmt.Errorf("bad port %q", p)
		}
		port = uint16(n)
	}
	hostPort := u.Host
	if u.Port() == "" {
		hostPort = u.Hostname()
		if strings.Contains(hostPort, ":") {
			hostPort = "[" + hostPort + "]"
		}
	}
	t, err := config.ParseTarget(hostPort, port)
	if err != nil {
		return config.SNMP{}, err
	}
	community := "public"
	if u.User != nil && u.User.Username() != "" {
		community = u.User.Username()
	}
	s := config.SNMP{Targets: []config.Target{t}, Port: port, Version: config.Version2c,
		Community: config.Secret(community), Timeout: 2 * time.Second, Retries: 1}
	if len(like) > 0 {
		s.Timeout, s.Retries = like[0].Timeout, like[0].Retries
	}
	q := u.Query()
	for k, v := range q {
		switch {
		case k == "timeout" && len(v) == 1:
			d, err := time.ParseDuration(v[0])
			if err != nil || d <= 0 || d > time.Minute {
				return config.SNMP{}, fmt.Errorf("timeout %q: want a duration up to 1m (timeout=5s)", v[0])
			}
			s.Timeout = d
		case k == "retries" && len(v) == 1:
			n, err := strconv.Atoi(v[0])
			if err != nil || n < 0 || n > 10 {
				return config.SNMP{}, fmt.Errorf("retries %q: want 0 to 10", v[0])
			}
			s.Retries = n
		default:
			return config.SNMP{}, fmt.Errorf("unknown query parameter %q (known: timeout, retries)", k)
		}
	}
	return s, nil
}

// progressPrinter shows "probed N/M" on stderr when it is a terminal and the sweep is big enough to
// wait for; nil otherwise.
func progressPrinter(stderr io.Writer) func(done, total int) {
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
		fmt.Fprintf(f, "\r\033[Kprobed %d/%d addresses", done, total)
	}
}
