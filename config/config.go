// Package config loads edgegw's TOML configuration strictly: unknown keys,
// keys in the wrong case, wrong types and out-of-range values are all errors
// that name the file, line, column and full key path, and all of them are
// reported at once. A gateway is installed once and then left alone on a
// site; a typo that silently falls back to a default (a misspelled community,
// a timeout of "5x") would surface months later as "the gateway finds
// nothing", so the loader refuses to guess.
//
// Load also reads the secrets named by *_file keys, so the rest of the daemon
// only ever sees typed, validated values and never a raw file path for a secret.
package config

import (
	"time"
)

// Config is the whole gateway configuration. The zero value is not useful:
// start from Default, Load or Parse.
type Config struct {
	Gateway   Gateway   `toml:"gateway"`
	Discovery Discovery `toml:"discovery"`
	Polling   Polling   `toml:"polling"`
	Profiles  Profiles  `toml:"profiles"`
	Log       Log       `toml:"log"`
	Cloud     Cloud     `toml:"cloud"`
	Claims    Claims    `toml:"claims"`
	Audit     Audit     `toml:"audit"`
	Admin     Admin     `toml:"admin"`

	// Tables are the drivers' own top-level tables ([traps]), by name, as each driver's TableCodec
	// (one with Top set) decoded them.
	Tables map[string][]Table `toml:"-"`

	// Path is the file the config came from, as given to Load; empty for Parse
	// and Default. Shown by `edgegw config check` and in reload messages.
	Path string `toml:"-"`

	warnings []string
}

// Gateway identifies this gateway and where it keeps its state.
type Gateway struct {
	// ID names the gateway to the cloud (the gateway-id message property).
	// Required, 1-64 characters of A-Z a-z 0-9 . _ - so it is safe in AMQP
	// properties, file names and metric labels alike.
	ID string `toml:"id"`
	// StateDir holds the state file, the encryption key and the admin socket.
	// A relative path is taken relative to the config file's directory.
	StateDir string `toml:"state_dir"`
}

// Discovery says how and how often the gateway looks for devices.
type Discovery struct {
	// Interval between discovery passes; at least 10s, since devices appear
	// rarely and every pass puts load on the site network and the devices.
	Interval time.Duration `toml:"interval"`
	// MaxAddresses bounds how many addresses all targets together may expand to
	// in one pass (a host counts 1, a CIDR its size). It keeps a mistyped
	// "/8" from turning the gateway into a network scanner.
	MaxAddresses int `toml:"max_addresses"`
	// Concurrency is how many addresses are probed at once, 1..1024.
	Concurrency int `toml:"concurrency"`
	// ProbeRate caps the probes per second a sweep of CIDR targets sends, 1..100000: silent
	// addresses cost only their timeout, so a sweep's speed is this rate, and the cap keeps a real
	// network from being flooded.
	ProbeRate int `toml:"probe_rate"`
	// Tables are the protocols' [discovery.NAME] tables, by protocol name, as each protocol's
	// TableCodec decoded them (in file order).
	Tables map[string][]Table `toml:"-"`
}

// Polling says how claimed devices are polled.
type Polling struct {
	// Interval between polls of one device; at least 1s; default 60s.
	Interval time.Duration `toml:"interval"`
	// OfflineAfter is how many polls in a row must fail before a device is
	// reported offline, 1..100; it debounces a single lost packet.
	OfflineAfter int `toml:"offline_after"`
	// Concurrency is how many devices are polled at once, 1..4096.
	Concurrency int `toml:"concurrency"`
	// Jitter spreads polls by up to this fraction of Interval (0..0.5), so a
	// site's devices are not all polled in the same second after a restart.
	Jitter float64 `toml:"jitter"`
}

// Profiles says where site-specific device profiles live, in addition to the
// embedded ones.
type Profiles struct {
	// Dirs are searched in order; later ones override earlier ones and the
	// embedded profiles. Relative paths are relative to the config file's directory.
	Dirs []string `toml:"dirs"`
}

// Log configures the daemon's log/slog output.
type Log struct {
	// Level is debug, info (default), warn or error.
	Level string `toml:"level"`
	// Format is auto (default: text on a terminal, JSON otherwise, e.g. under
	// systemd), text or json.
	Format string `toml:"format"`
}

// Warnings are problems that do not stop the gateway but that an operator
// should fix, chiefly secrets readable by other users. They are computed at
// load time; `edgegw config check` and the daemon's startup log show them.
func (c *Config) Warnings() []string {
	return append([]string(nil), c.warnings...)
}
