package config

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Limits, kept next to the checks that use them. They bound what the daemon
// has to cope with rather than what a protocol allows.
const (
	minDiscoveryInterval = 10 * time.Second
	maxMaxAddresses      = 1 << 20
	maxProbeRate         = 100_000
	maxDiscoveryConc     = 1024
	minPollInterval      = time.Second
	maxOfflineAfter      = 100
	maxPollConc          = 4096
	maxJitter            = 0.5
)

// Accepted enum values, in their canonical spelling. Input is matched
// case-insensitively and stored in this spelling, so drivers compare exactly.
var (
	logLevels      = []string{"debug", "info", "warn", "error"}
	logFormats     = []string{"auto", "text", "json"}
	gatewayIDRegex = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
)

// Validate checks the whole configuration and returns Errors listing every
// problem, or nil. Load and Parse call it; it is exported for configs built or
// changed in code (tests, a future reload API). Errors from Validate carry key
// paths but no file positions.
func (c *Config) Validate() error {
	var es errs
	for _, v := range []interface{ Validate() error }{&c.Gateway, &c.Discovery, &c.Polling, &c.Profiles, &c.Log, &c.Cloud, &c.Claims, &c.Audit, &c.Admin} {
		if err := v.Validate(); err != nil {
			es = append(es, err.(Errors)...)
		}
	}
	return es.err()
}

// Validate checks the [gateway] table.
func (g *Gateway) Validate() error {
	var es errs
	switch {
	case g.ID == "":
		es.add("gateway.id", "required")
	case !gatewayIDRegex.MatchString(g.ID):
		es.add("gateway.id", "%q is not valid: use 1-64 characters of A-Z a-z 0-9 . _ -", g.ID)
	}
	if g.StateDir == "" {
		es.add("gateway.state_dir", "must not be empty")
	}
	return es.err()
}

// Validate checks the [discovery] table, and that the targets of every protocol's tables together fit
// in MaxAddresses (each table checked itself when it was decoded).
func (d *Discovery) Validate() error {
	var es errs
	if d.Interval < minDiscoveryInterval {
		es.add("discovery.interval", "must be at least %s, got %s", fmtDuration(minDiscoveryInterval), fmtDuration(d.Interval))
	}
	checkRange(&es, "discovery.max_addresses", d.MaxAddresses, 1, maxMaxAddresses)
	checkRange(&es, "discovery.concurrency", d.Concurrency, 1, maxDiscoveryConc)
	checkRange(&es, "discovery.probe_rate", d.ProbeRate, 1, maxProbeRate)
	var total uint64
	overflow := false
	for _, name := range slices.Sorted(maps.Keys(d.Tables)) {
		for _, tb := range d.Tables[name] {
			for j, t := range tb.Sweep() {
				if overflow || d.MaxAddresses < 1 || t.Host == "" && !t.IsPrefix() {
					continue // already reported
				}
				key := fmt.Sprintf("%s.targets[%d]", tb.Name(), j)
				size := t.Size()
				if size > uint64(d.MaxAddresses) {
					es.add(key, "%s expands to %s addresses, more than discovery.max_addresses (%d)", t.Prefix, fmtSize(size), d.MaxAddresses)
					continue
				}
				total += size
				if total > uint64(d.MaxAddresses) {
					es.add(key, "with this target, all targets expand to more than discovery.max_addresses (%d) addresses", d.MaxAddresses)
					overflow = true // report once, not for every later target
				}
			}
		}
	}
	return es.err()
}

// Validate checks the [polling] table.
func (p *Polling) Validate() error {
	var es errs
	if p.Interval < minPollInterval {
		es.add("polling.interval", "must be at least %s, got %s", fmtDuration(minPollInterval), fmtDuration(p.Interval))
	}
	checkRange(&es, "polling.offline_after", p.OfflineAfter, 1, maxOfflineAfter)
	checkRange(&es, "polling.concurrency", p.Concurrency, 1, maxPollConc)
	if !(p.Jitter >= 0 && p.Jitter <= maxJitter) { // also rejects NaN
		es.add("polling.jitter", "must be between 0 and %g, got %g", maxJitter, p.Jitter)
	}
	return es.err()
}

// Validate checks the [profiles] table.
func (p *Profiles) Validate() error {
	var es errs
	for i, d := range p.Dirs {
		if d == "" {
			es.add(fmt.Sprintf("profiles.dirs[%d]", i), "must not be empty")
		}
	}
	return es.err()
}

// Validate checks the [log] table.
func (l *Log) Validate() error {
	var es errs
	if !slices.Contains(logLevels, l.Level) {
		es.add("log.level", "%q is not one of %s", l.Level, quoteList(logLevels))
	}
	if !slices.Contains(logFormats, l.Format) {
		es.add("log.format", "%q is not one of %s", l.Format, quoteList(logFormats))
	}
	return es.err()
}

func checkRange(es *errs, key string, n, lo, hi int) {
	if n < lo || n > hi {
		es.add(key, "must be between %d and %d, got %d", lo, hi, n)
	}
}

// canonical returns the spelling in list that matches s case-insensitively,
// or s unchanged so that validation reports it.
func canonical(s string, list []string) string {
	for _, v := range list {
		if strings.EqualFold(s, v) {
			return v
		}
	}
	return s
}

func quoteList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// fmtDuration prints 1m rather than time.Duration's 1m0s, matching how the
// value is written in the config.
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func fmtSize(n uint64) string {
	if n >= 1<<62 {
		return "more than 2^62"
	}
	return fmt.Sprint(n)
}
