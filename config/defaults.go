package config

import "time"

// Every default lives in this file, so the documentation in
// config.example.toml, Default and the loader cannot drift apart (a test
// checks the example against these values).

const (
	defaultStateDir          = "/var/lib/edgegw"
	defaultDiscoveryInterval = 15 * time.Minute
	defaultMaxAddresses      = 65536
	defaultProbeRate         = 4000
	defaultDiscoveryConc     = 64
	defaultPollInterval      = 60 * time.Second
	defaultOfflineAfter      = 3
	defaultPollConc          = 64
	defaultJitter            = 0.1
	defaultLogLevel          = "info"
	defaultLogFormat         = "auto"
)

// Default returns a Config with every default set. It is not valid by itself:
// gateway.id has no sensible default. Each call returns a fresh copy.
func Default() *Config {
	return &Config{
		Gateway: Gateway{StateDir: defaultStateDir},
		Discovery: Discovery{
			Interval:     defaultDiscoveryInterval,
			MaxAddresses: defaultMaxAddresses,
			Concurrency:  defaultDiscoveryConc,
			ProbeRate:    defaultProbeRate,
		},
		Polling: Polling{
			Interval:     defaultPollInterval,
			OfflineAfter: defaultOfflineAfter,
			Concurrency:  defaultPollConc,
			Jitter:       defaultJitter,
		},
		Profiles: Profiles{Dirs: []string{}},
		Log:      Log{Level: defaultLogLevel, Format: defaultLogFormat},
		Cloud:    defaultCloud(),
		Claims:   Claims{PendingTTL: defaultPendingTTL, MaxPending: defaultMaxPending},
		Audit:    Audit{Retention: defaultAuditRetention},
		Admin:    defaultAdmin(),
	}
}
