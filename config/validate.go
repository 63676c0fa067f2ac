package config

import (
	"fmt"
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
	maxDiscoveryConc     = 1024
	minSNMPTimeout       = 10 * time.Millisecond
	maxSNMPTimeout       = 60 * time.Second
	maxSNMPRetries       = 10
	minPollInterval      = time.Second
	maxOfflineAfter      = 100
	maxPollConc          = 4096
	maxJitter            = 0.5
	minUSMPassword       = 8 // RFC 3414 11.2: shorter passphrases are rejected by agents
)

// Accepted enum values, in their canonical spelling. Input is matched
// case-insensitively and stored in this spelling, so drivers compare exactly.
var (
	versions       = []string{Version1, Version2c, Version3}
	authProtocols  = []string{"SHA", "SHA224", "SHA256", "SHA384", "SHA512", "MD5"}
	privProtocols  = []string{"AES", "AES192", "AES256", "AES192C", "AES256C", "DES", PrivNone}
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
	for _, v := range []interface{ Validate() error }{&c.Gateway, &c.Discovery, &c.Polling, &c.Profiles, &c.Log, &c.Cloud, &c.Claims, &c.Audit} {
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

// Validate checks the [discovery] table and every [[discovery.snmp]] in it,
// including that all targets together fit in MaxAddresses.
func (d *Discovery) Validate() error {
	var es errs
	if d.Interval < minDiscoveryInterval {
		es.add("discovery.interval", "must be at least %s, got %s", fmtDuration(minDiscoveryInterval), fmtDuration(d.Interval))
	}
	checkRange(&es, "discovery.max_addresses", d.MaxAddresses, 1, maxMaxAddresses)
	checkRange(&es, "discovery.concurrency", d.Concurrency, 1, maxDiscoveryConc)
	var total uint64
	overflow := false
	type sweep struct {
		prefix  string
		targets []Target
	}
	var sweeps []sweep
	for i := range d.SNMP {
		s := &d.SNMP[i]
		prefix := fmt.Sprintf("discovery.snmp[%d]", i)
		s.validate(&es, prefix)
		sweeps = append(sweeps, sweep{prefix, s.Targets})
	}
	for i := range d.Modbus {
		m := &d.Modbus[i]
		prefix := fmt.Sprintf("discovery.modbus[%d]", i)
		m.validate(&es, prefix)
		sweeps = append(sweeps, sweep{prefix, m.Targets})
	}
	if d.MDNS != nil {
		d.MDNS.validate(&es)
	}
	for _, s := range sweeps {
		prefix := s.prefix
		for j, t := range s.targets {
			if overflow || d.MaxAddresses < 1 || t.Host == "" && !t.IsPrefix() {
				continue // already reported
			}
			key := fmt.Sprintf("%s.targets[%d]", prefix, j)
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
	return es.err()
}

// validate checks one [[discovery.snmp]] table.
func (s *SNMP) validate(es *errs, p string) {
	if len(s.Targets) == 0 {
		es.add(p+".targets", "required: list at least one address, host name or CIDR")
	}
	for j, t := range s.Targets {
		if t.Host == "" && !t.IsPrefix() {
			es.add(fmt.Sprintf("%s.targets[%d]", p, j), "%q has not been parsed; use ParseTarget", t.Raw)
		} else if t.Port == 0 {
			es.add(fmt.Sprintf("%s.targets[%d]", p, j), "port must be between 1 and 65535, got 0")
		}
	}
	if s.Port == 0 {
		es.add(p+".port", "must be between 1 and 65535, got 0")
	}
	if !slices.Contains(versions, s.Version) {
		es.add(p+".version", "%q is not one of %s", s.Version, quoteList(versions))
	}
	if s.Timeout < minSNMPTimeout || s.Timeout > maxSNMPTimeout {
		es.add(p+".timeout", "must be between %s and %s, got %s", fmtDuration(minSNMPTimeout), fmtDuration(maxSNMPTimeout), fmtDuration(s.Timeout))
	}
	checkRange(es, p+".retries", s.Retries, 0, maxSNMPRetries)
	switch s.Version {
	case Version3:
		if s.Community != "" {
			es.add(p+".community", "is not used with version 3; remove it")
		}
		if s.CommunityFile != "" {
			es.add(p+".community_file", "is not used with version 3; remove it")
		}
		if s.V3 == nil {
			es.add(p+".v3", "required for version 3: add a [discovery.snmp.v3] table after this [[discovery.snmp]]")
		} else {
			s.V3.validate(es, p+".v3")
		}
	case Version1, Version2c:
		// With a community_file, an empty Community means the file could not
		// be read, which is reported there.
		if s.Community == "" && s.CommunityFile == "" {
			es.add(p+".community", "must not be empty")
		}
		if s.V3 != nil {
			es.add(p+".v3", "is only used with version 3, but version is %q", s.Version)
		}
	}
}

// validate checks one discovery.snmp.v3 table.
func (v *SNMPv3) validate(es *errs, p string) {
	if v.User == "" {
		es.add(p+".user", "required")
	}
	if !slices.Contains(authProtocols, v.AuthProtocol) {
		es.add(p+".auth_protocol", "%q is not one of %s", v.AuthProtocol, quoteList(authProtocols))
	}
	if !slices.Contains(privProtocols, v.PrivProtocol) {
		es.add(p+".priv_protocol", "%q is not one of %s", v.PrivProtocol, quoteList(privProtocols))
	}
	checkPassword(es, p, "auth_password", v.AuthPassword, v.AuthPasswordFile)
	if v.PrivProtocol == PrivNone {
		if v.PrivPassword != "" || v.PrivPasswordFile != "" {
			key := p + ".priv_password"
			if v.PrivPasswordFile != "" {
				key += "_file"
			}
			es.add(key, "is set, but priv_protocol is %q; remove it or choose a privacy protocol", PrivNone)
		}
		return
	}
	checkPassword(es, p, "priv_password", v.PrivPassword, v.PrivPasswordFile)
}

// checkPassword reports a missing or short USM password at the key the user
// wrote it under, without ever echoing it.
func checkPassword(es *errs, p, name string, pw Secret, file string) {
	switch {
	case pw == "" && file == "":
		es.add(p+"."+name, "required: set %s or %s_file", name, name)
	case len(pw.Reveal()) < minUSMPassword && file != "":
		es.add(p+"."+name+"_file", "the password in %s must be at least %d characters long (USM rule, RFC 3414)", file, minUSMPassword)
	case len(pw.Reveal()) < minUSMPassword:
		es.add(p+"."+name, "must be at least %d characters long (USM rule, RFC 3414)", minUSMPassword)
	}
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
