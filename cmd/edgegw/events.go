package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edgegw/edgegw/gateway"
)

// edgegw events reads the admin API's GET /api/events (oldest first, the newest --limit) and GET
// /api/events/stats (what each listener received, counted) over the daemon's admin socket.

const eventsDefaultLimit = 1000

// cmdEvents: edgegw events [--device D] [--since T] [--limit N] [--stats] [--json] --config FILE.
func cmdEvents(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("events", "edgegw events [--device D] [--since 2026-11-01T00:00:00Z|24h] [--limit N] [--stats] [--json] --config FILE", stdout)
	cfgPath := fs.String("config", "", "configuration file of the running daemon (required)")
	device := fs.String("device", "", "only this device id")
	since := fs.String("since", "", "only events since this time (RFC 3339) or duration ago (24h)")
	limit := fs.Int("limit", eventsDefaultLimit, "at most this many, the newest")
	stats := fs.Bool("stats", false, "what the trap receiver received and dropped, counted, instead of the events")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *limit < 1 {
		return usagef("edgegw events: --limit must be at least 1")
	}
	q, err := logQuery("events", *device, *since)
	if err != nil {
		return err
	}
	q.Set("limit", strconv.Itoa(*limit))
	cfg, err := protocols().loadConfig(*cfgPath, stderr)
	if err != nil {
		return err
	}
	if *stats {
		ss, err := adminGet[[]gateway.ListenerStats](cfg.Gateway.StateDir, "/api/events/stats")
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(stdout, ss)
		}
		if len(ss) == 0 {
			fmt.Fprintln(stdout, "no listener: the trap receiver is off ([traps] listen is not set)")
			return nil
		}
		for _, s := range ss {
			fmt.Fprintf(stdout, "%s listener on %s", s.Protocol, dash(s.Address))
			if s.EngineID != "" {
				fmt.Fprintf(stdout, ", engine id %s", s.EngineID)
			}
			fmt.Fprintln(stdout)
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			for _, k := range slices.Sorted(maps.Keys(s.Counts)) {
				fmt.Fprintf(tw, "  %s\t%d\n", k, s.Counts[k])
			}
			tw.Flush()
		}
		return nil
	}
	es, err := adminGet[[]gateway.Event](cfg.Gateway.StateDir, "/api/events?"+q.Encode())
	if err != nil {
		return err
	}
	if *asJSON {
		if es == nil {
			es = []gateway.Event{}
		}
		return writeJSON(stdout, es)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tDEVICE\tEVENT\tSEVERITY\tACTIVE\tSOURCE\tTRAP OID\tCLEARS")
	for _, e := range es {
		name := e.Name
		if e.Instance != "" {
			name += "[" + e.Instance + "]"
		}
		active := "-"
		if e.Condition {
			active = strconv.FormatBool(e.Active)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Local().Format(time.DateTime), e.DeviceID, name, e.Severity,
			active, dash(e.Source), dash(e.TrapOID), dash(strings.Join(e.Clears, ",")))
	}
	return tw.Flush()
}

// logQuery is the query of a log's API (audit, events) for --device and --since.
func logQuery(verb, device, since string) (url.Values, error) {
	q := url.Values{}
	if device != "" {
		q.Set("device", device)
	}
	if since != "" {
		t, err := sinceTime(since)
		if err != nil {
			return nil, usagef("edgegw %s: --since %q is neither a time (RFC 3339) nor a duration", verb, since)
		}
		q.Set("since", t)
	}
	return q, nil
}

// sinceTime reads --since: an RFC 3339 time, or a duration ago.
func sinceTime(s string) (string, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(-d).UTC().Format(time.RFC3339), nil
	}
	if _, err := time.Parse(time.RFC3339, s); err != nil {
		return "", err
	}
	return s, nil
}

// adminGet reads one JSON answer of the daemon's admin socket.
func adminGet[T any](stateDir, path string) (T, error) {
	var v T
	out, err := adminCall(stateDir, http.MethodGet, path, nil)
	if err != nil {
		return v, err
	}
	return v, json.Unmarshal(out, &v)
}
