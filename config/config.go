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
	// SNMP lists the SNMP sweeps, one per [[discovery.snmp]] table.
	SNMP []SNMP `toml:"snmp"`
	// Modbus lists the Modbus sweeps, one per [[discovery.modbus]] table.
	Modbus []Modbus `toml:"modbus"`
	// MDNS is the [discovery.mdns] table; nil when absent (no mDNS browsing).
	MDNS *MDNS `toml:"mdns"`
}

// SNMP is one SNMP sweep: a set of targets probed with one set of credentials.
// Sites usually have one per credential (one community for the UPSes, a v3
// user for the PDUs).
type SNMP struct {
	// Targets are "host", "host:port", "[v6]:port" or CIDR "127.0.10.0/28";
	// required. Host names are kept as written and resolved at probe time.
	Targets Targets `toml:"targets"`
	// Port is used for targets written without one; default 161.
	Port uint16 `toml:"port"`
	// Version is "1", "2c" (default) or "3".
	Version string `toml:"version"`
	// Community is the v1/v2c community. Prefer CommunityFile, which keeps
	// the secret out of a file that is often copied into tickets.
	Community Secret `toml:"community"`
	// CommunityFile names a file holding the community; it is read at load
	// and its trailing newline dropped. Relative to the config file's directory.
	CommunityFile string `toml:"community_file"`
	// WriteCommunity is used for SETs (desired settings); "" = Community. Many agents allow writes only
	// with a separate read-write community.
	WriteCommunity     Secret `toml:"write_community"`
	WriteCommunityFile string `toml:"write_community_file"`
	// Timeout per request, 10ms..60s; default 2s.
	Timeout time.Duration `toml:"timeout"`
	// Retries per request, 0..10; default 1. Each retry on a dead address
	// costs a full Timeout, so sweeps keep this low.
	Retries int `toml:"retries"`
	// V3 holds the USM settings: required when Version is "3", an error otherwise.
	V3 *SNMPv3 `toml:"v3"`

	name string
}

// Name is this sweep's key path ("discovery.snmp[0]"). Drivers use it as the
// credential reference in logs and sightings, since the secret itself must not
// appear there. Empty for an SNMP value not produced by Load or Parse,
// unless SetName gave it one.
func (s *SNMP) Name() string { return s.name }

// SNMP versions, as written in the config.
const (
	Version1  = "1"
	Version2c = "2c"
	Version3  = "3"
)

// SNMPv3 is the user-based security model (USM) part of an SNMPv3 sweep.
// noAuthNoPriv is deliberately not offered: it is v2c without the community
// and gives nothing over it.
type SNMPv3 struct {
	// User is the USM user name; required.
	User string `toml:"user"`
	// AuthProtocol is one of SHA, SHA224, SHA256 (default), SHA384, SHA512, MD5;
	// any case is accepted and it is stored in upper case.
	AuthProtocol string `toml:"auth_protocol"`
	// AuthPassword is the authentication passphrase, at least 8 characters.
	AuthPassword Secret `toml:"auth_password"`
	// AuthPasswordFile names a file holding AuthPassword (exclusive with it).
	AuthPasswordFile string `toml:"auth_password_file"`
	// PrivProtocol is one of AES (default), AES192, AES256, AES192C, AES256C,
	// DES, or none for authNoPriv.
	PrivProtocol string `toml:"priv_protocol"`
	// PrivPassword is the privacy passphrase, at least 8 characters; required
	// unless PrivProtocol is none.
	PrivPassword Secret `toml:"priv_password"`
	// PrivPasswordFile names a file holding PrivPassword (exclusive with it).
	PrivPasswordFile string `toml:"priv_password_file"`
	// ContextName is the SNMPv3 context; usually empty.
	ContextName string `toml:"context_name"`
}

// USM security levels, as returned by SNMPv3.SecurityLevel.
const (
	AuthNoPriv = "authNoPriv"
	AuthPriv   = "authPriv"
)

// PrivNone is the PrivProtocol value that turns privacy (encryption) off.
const PrivNone = "none"

// SecurityLevel is derived rather than configured, so it can never disagree
// with the protocols: authPriv unless PrivProtocol is none.
func (v *SNMPv3) SecurityLevel() string {
	if v.PrivProtocol == PrivNone {
		return AuthNoPriv
	}
	return AuthPriv
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
