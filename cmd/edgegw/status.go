package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/edgegw/edgegw/admin"
)

// Exit codes of edgegw status besides 0 (healthy): exitFailure (1) when the daemon is not running,
// exitDegraded when it runs but is degraded.
const exitDegraded = 3

// exitCode is a failure whose explanation was printed, with its exit code.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit %d", int(c)) }

// cmdStatus: edgegw status [--json] --config FILE.
func cmdStatus(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("status", "edgegw status [--json] --config FILE   (exit 0 healthy, 1 not running, 3 degraded)", stdout)
	cfgPath := fs.String("config", "", "configuration file of the daemon (required)")
	asJSON := fs.Bool("json", false, "print the whole status as JSON (the answer of GET /api/status)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := protocols().loadConfig(*cfgPath, stderr)
	if err != nil {
		return err
	}
	body, err := adminCall(cfg.Gateway.StateDir, http.MethodGet, "/api/status", nil)
	if err != nil {
		if *asJSON {
			writeJSON(stdout, map[string]string{"health": "not running", "error": err.Error()})
		}
		if errors.Is(err, errNotRunning) {
			fmt.Fprintf(stderr, "edgegw %s: not running: %v\n", cfg.Gateway.ID, err)
			return exitCode(exitFailure)
		}
		return err
	}
	var st admin.Status
	if err := json.Unmarshal(body, &st); err != nil {
		return fmt.Errorf("the daemon's status: %w", err)
	}
	if *asJSON {
		stdout.Write(body)
	} else {
		printStatus(stdout, st, time.Now())
	}
	if st.HealthState != admin.Healthy {
		return exitCode(exitDegraded)
	}
	return nil
}

// printStatus is the overview in a few lines.
func printStatus(w io.Writer, st admin.Status, now time.Time) {
	fmt.Fprintf(w, "%s: %s (edgegw %s, up %s)\n", st.GatewayID, st.HealthState, st.Version,
		(time.Duration(st.UptimeSeconds) * time.Second).String())
	for _, p := range st.Problems {
		fmt.Fprintf(w, "  problem: %s\n", p)
	}
	up := st.Uplink
	uplink := up.State
	switch {
	case !st.CloudConfigured:
		uplink = "off in the configuration ([cloud] enabled = false)"
	case !st.CloudEnabled:
		uplink = "switched off (edgegw cloud enable turns it on)"
	}
	if !up.Since.IsZero() && st.CloudConfigured {
		uplink += fmt.Sprintf(" for %s", now.Sub(up.Since).Round(time.Second))
	}
	if st.CloudConfigured {
		uplink += fmt.Sprintf(", %d reconnects", up.Reconnects)
		if up.LastError != "" && up.State != "connected" {
			uplink += "; last error: " + up.LastError
		}
	}
	fmt.Fprintf(w, "  uplink:    %s\n", uplink)
	if st.CloudConfigured {
		o := st.Outbox
		fmt.Fprintf(w, "  outbox:    %d waiting, %d in flight, %d bytes, %d dropped\n", o.Pending, o.InFlight, o.Bytes, o.Dropped)
	}
	inv := st.Inventory
	fmt.Fprintf(w, "  devices:   %d found, %d claimed, %d online, %d offline, %d failing\n", inv.Devices,
		inv.ByClaimState["claimed"], inv.ByConnectivity["online"], inv.ByConnectivity["offline"], inv.Failing)
	last := "none yet"
	if !st.LastDiscovery.IsZero() {
		last = "last " + now.Sub(st.LastDiscovery).Round(time.Second).String() + " ago"
	}
	fmt.Fprintf(w, "  discovery: %d passes, %s; %d polls, %d failed\n", st.DiscoveryPass, last, st.Polls, st.PollErrors)
	switch a := st.Admin; {
	case a.Listen == "":
		fmt.Fprintf(w, "  page:      off ([admin] listen = \"\")\n")
	case a.Address != "":
		scheme := "http"
		if a.TLS {
			scheme = "https"
		}
		fmt.Fprintf(w, "  page:      %s://%s/ (token: edgegw admin token)\n", scheme, a.Address)
	default:
		fmt.Fprintf(w, "  page:      not listening on %s: %s\n", a.Listen, strings.TrimSpace(a.Error))
	}
}
