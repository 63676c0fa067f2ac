package config

import "time"

// Claims is the [claims] table.
type Claims struct {
	// PendingTTL is how long a claim for a device not seen yet waits for it.
	PendingTTL time.Duration `toml:"pending_ttl"`
	// MaxPending caps the claims waiting for a device not seen yet; beyond it a claim is refused.
	MaxPending int `toml:"max_pending"`
}

// Audit is the [audit] table.
type Audit struct {
	// Retention is how long audit entries are kept.
	Retention time.Duration `toml:"retention"`
}

const (
	defaultPendingTTL     = 7 * 24 * time.Hour
	defaultMaxPending     = 10000
	defaultAuditRetention = 90 * 24 * time.Hour
)

// Validate checks the [claims] table.
func (c *Claims) Validate() error {
	var es errs
	if c.PendingTTL < time.Minute {
		es.add("claims.pending_ttl", "must be at least 1m, got %s", fmtDuration(c.PendingTTL))
	}
	checkRange(&es, "claims.max_pending", c.MaxPending, 1, 1000000)
	return es.err()
}

// Validate checks the [audit] table.
func (a *Audit) Validate() error {
	var es errs
	if a.Retention < time.Hour {
		es.add("audit.retention", "must be at least 1h, got %s", fmtDuration(a.Retention))
	}
	return es.err()
}
