package snmp

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/edgegw/edgegw/config"
	"github.com/edgegw/edgegw/internal/tomlx"
)

// Table is one [[discovery.snmp]] table: a set of targets probed with one set of credentials. Sites
// usually have one per credential (one community for the UPSes, a v3 user for the PDUs).
type Table struct {
	// Targets are "host", "host:port", "[v6]:port" or CIDR "127.0.10.0/28"; required. Host names are
	// kept as written and resolved at probe time.
	Targets config.Targets `toml:"targets"`
	// Port is used for targets written without one; default 161.
	Port uint16 `toml:"port"`
	// Version is "1", "2c" (default) or "3".
	Version string `toml:"version"`
	// Community is the v1/v2c community. Prefer CommunityFile, which keeps the secret out of a file
	// that is often copied into tickets.
	Community config.Secret `toml:"community"`
	// CommunityFile names a file holding the community; it is read at load and its trailing newline
	// dropped. Relative to the config file's directory.
	CommunityFile string `toml:"community_file"`
	// WriteCommunity is used for SETs (desired settings); "" = Community. Many agents allow writes only
	// with a separate read-write community.
	WriteCommunity     config.Secret `toml:"write_community"`
	WriteCommunityFile string        `toml:"write_community_file"`
	// Timeout per request, 10ms..60s; default 2s.
	Timeout time.Duration `toml:"timeout"`
	// Retries per request, 0..10; default 1. Each retry on a dead address costs a full Timeout, so
	// sweeps keep this low.
	Retries int `toml:"retries"`
	// V3 holds the USM settings: required when Version is "3", an error otherwise.
	V3 *TableV3 `toml:"v3"`

	name string
}

// TableV3 is the user-based security model (USM) part of an SNMPv3 table. noAuthNoPriv is deliberately
// not offered: it is v2c without the community and gives nothing over it.
type TableV3 struct {
	// User is the USM user name; required.
	User string `toml:"user"`
	// AuthProtocol is one of SHA, SHA224, SHA256 (default), SHA384, SHA512, MD5; any case is accepted
	// and it is stored in upper case.
	AuthProtocol string `toml:"auth_protocol"`
	// AuthPassword is the authentication passphrase, at least 8 characters.
	AuthPassword config.Secret `toml:"auth_password"`
	// AuthPasswordFile names a file holding AuthPassword (exclusive with it).
	AuthPasswordFile string `toml:"auth_password_file"`
	// PrivProtocol is one of AES (default), AES192, AES256, AES192C, AES256C, DES, or none for
	// authNoPriv.
	PrivProtocol string `toml:"priv_protocol"`
	// PrivPassword is the privacy passphrase, at least 8 characters; required unless PrivProtocol is
	// none.
	PrivPassword config.Secret `toml:"priv_password"`
	// PrivPasswordFile names a file holding PrivPassword (exclusive with it).
	PrivPasswordFile string `toml:"priv_password_file"`
	// ContextName is the SNMPv3 context; usually empty.
	ContextName string `toml:"context_name"`
}

// Defaults and limits of a table.
const (
	defaultPort      = 161
	defaultCommunity = "public" // the v1/v2c factory default, not a secret
	defaultTimeout   = 2 * time.Second
	defaultRetries   = 1
	maxRetries       = 10
	minUSMPassword   = 8 // RFC 3414 11.2: shorter passphrases are rejected by agents
	privNone         = "none"
)

// Accepted enum values, in their canonical spelling. Input is matched case-insensitively and stored in
// this spelling.
var (
	versions            = []string{string(V1), string(V2c), string(V3)}
	configAuthProtocols = []string{"SHA", "SHA224", "SHA256", "SHA384", "SHA512", "MD5"}
	configPrivProtocols = []string{"AES", "AES192", "AES256", "AES192C", "AES256C", "DES", privNone}
)

// SetDefaults fills a table before its keys are decoded over it. The community default depends on the
// version and on whether a community_file is given, so it is applied after decoding.
func (t *Table) SetDefaults() {
	*t = Table{Port: defaultPort, Version: string(V2c), Timeout: defaultTimeout, Retries: defaultRetries}
}

// SetDefaults fills a v3 table before its keys are decoded.
func (v *TableV3) SetDefaults() { *v = TableV3{AuthProtocol: "SHA256", PrivProtocol: "AES"} }

// Name is the table's key path ("discovery.snmp[0]"): the credential reference in logs and sightings,
// since the secret itself must not appear there.
func (t *Table) Name() string { return t.name }

// Sweep lists the table's targets.
func (t *Table) Sweep() []config.Target { return t.Targets }

// tableKeys are every key of a table and of its v3 table, for the example config's test.
var tableKeys = []string{"targets", "port", "version", "community", "community_file", "write_community",
	"write_community_file", "timeout", "retries", "v3", "user", "auth_protocol", "auth_password",
	"auth_password_file", "priv_protocol", "priv_password", "priv_password_file", "context_name"}

// decodeTable reads one [[discovery.snmp]] table.
func decodeTable(t tomlx.Table, env *config.Env) config.Table {
	var s Table
	s.SetDefaults()
	tomlx.Decode(t, &s)
	s.name = t.Path
	s.Version = config.Canonical(s.Version, versions)
	config.ParseTargets(t.Doc.Errorf, s.name, s.Targets, s.Port)
	env.ReadSecret(t, "community", &s.Community, &s.CommunityFile, defaultCommunity)
	env.ReadSecret(t, "write_community", &s.WriteCommunity, &s.WriteCommunityFile, "")
	if s.Community == "" && s.CommunityFile == "" && (s.Version == string(V1) || s.Version == string(V2c)) {
		s.Community = defaultCommunity
	}
	if v := s.V3; v != nil {
		vt, _ := t.Sub("v3")
		v.AuthProtocol = config.Canonical(v.AuthProtocol, configAuthProtocols)
		v.PrivProtocol = config.Canonical(v.PrivProtocol, configPrivProtocols)
		env.ReadSecret(vt, "auth_password", &v.AuthPassword, &v.AuthPasswordFile, "")
		env.ReadSecret(vt, "priv_password", &v.PrivPassword, &v.PrivPasswordFile, "")
		if v.AuthProtocol == "MD5" {
			env.Warn("%s.v3.auth_protocol: MD5 is weak; use SHA256 or stronger if the device supports it", s.name)
		}
		if v.PrivProtocol == "DES" {
			env.Warn("%s.v3.priv_protocol: DES is broken; use AES if the device supports it", s.name)
		}
	}
	s.check(t.Doc.Errorf)
	return &s
}

// check reports every problem of a table at its key.
func (s *Table) check(check config.Checker) {
	p := s.name
	if len(s.Targets) == 0 {
		check(p+".targets", "required: list at least one address, host name or CIDR")
	}
	for j, t := range s.Targets {
		if t.Host == "" && !t.IsPrefix() {
			check(fmt.Sprintf("%s.targets[%d]", p, j), "%q has not been parsed; use ParseTarget", t.Raw)
		} else if t.Port == 0 {
			check(fmt.Sprintf("%s.targets[%d]", p, j), "port must be between 1 and 65535, got 0")
		}
	}
	if s.Port == 0 {
		check(p+".port", "must be between 1 and 65535, got 0")
	}
	config.OneOf(check, p+".version", s.Version, versions)
	config.DurationIn(check, p+".timeout", s.Timeout, config.MinTimeout, config.MaxTimeout)
	config.InRange(check, p+".retries", s.Retries, 0, maxRetries)
	switch Version(s.Version) {
	case V3:
		if s.Community != "" {
			check(p+".community", "is not used with version 3; remove it")
		}
		if s.CommunityFile != "" {
			check(p+".community_file", "is not used with version 3; remove it")
		}
		if s.V3 == nil {
			check(p+".v3", "required for version 3: add a [discovery.snmp.v3] table after this [[discovery.snmp]]")
		} else {
			s.V3.check(check, p+".v3")
		}
	case V1, V2c:
		// With a community_file, an empty Community means the file could not be read, which is
		// reported there.
		if s.Community == "" && s.CommunityFile == "" {
			check(p+".community", "must not be empty")
		}
		if s.V3 != nil {
			check(p+".v3", "is only used with version 3, but version is %q", s.Version)
		}
	}
}

func (v *TableV3) check(check config.Checker, p string) {
	if v.User == "" {
		check(p+".user", "required")
	}
	config.OneOf(check, p+".auth_protocol", v.AuthProtocol, configAuthProtocols)
	config.OneOf(check, p+".priv_protocol", v.PrivProtocol, configPrivProtocols)
	checkPassword(check, p, "auth_password", v.AuthPassword, v.AuthPasswordFile)
	if v.PrivProtocol == privNone {
		if v.PrivPassword != "" || v.PrivPasswordFile != "" {
			key := p + ".priv_password"
			if v.PrivPasswordFile != "" {
				key += "_file"
			}
			check(key, "is set, but priv_protocol is %q; remove it or choose a privacy protocol", privNone)
		}
		return
	}
	checkPassword(check, p, "priv_password", v.PrivPassword, v.PrivPasswordFile)
}

// checkPassword reports a missing or short USM password at the key the user wrote it under, without
// ever echoing it.
func checkPassword(check config.Checker, p, name string, pw config.Secret, file string) {
	switch {
	case pw == "" && file == "":
		check(p+"."+name, "required: set %s or %s_file", name, name)
	case len(pw.Reveal()) < minUSMPassword && file != "":
		check(p+"."+name+"_file", "the password in %s must be at least %d characters long (USM rule, RFC 3414)", file, minUSMPassword)
	case len(pw.Reveal()) < minUSMPassword:
		check(p+"."+name, "must be at least %d characters long (USM rule, RFC 3414)", minUSMPassword)
	}
}

// targetTable reads snmp://[community@]host[:port][?timeout=2s&retries=1] (v2c): a --target URL. The
// community never appears in an error.
func targetTable(u *url.URL, index int) (config.Table, error) {
	if u.Host == "" {
		return nil, fmt.Errorf("no host (want snmp://[community@]host[:port])")
	}
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("unexpected path %q", u.Path)
	}
	s := &Table{}
	s.SetDefaults()
	s.name = fmt.Sprintf("target[%d]", index)
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("bad port %q", p)
		}
		s.Port = uint16(n)
	}
	hostPort := u.Host
	if u.Port() == "" {
		hostPort = u.Hostname()
		if strings.Contains(hostPort, ":") {
			hostPort = "[" + hostPort + "]"
		}
	}
	t, err := config.ParseTarget(hostPort, s.Port)
	if err != nil {
		return nil, err
	}
	s.Targets = config.Targets{t}
	s.Community = defaultCommunity
	if u.User != nil && u.User.Username() != "" {
		s.Community = config.Secret(u.User.Username())
	}
	for k, v := range u.Query() {
		switch {
		case k == "timeout" && len(v) == 1:
			d, err := time.ParseDuration(v[0])
			if err != nil || d <= 0 || d > time.Minute {
				return nil, fmt.Errorf("timeout %q: want a duration up to 1m (timeout=5s)", v[0])
			}
			s.Timeout = d
		case k == "retries" && len(v) == 1:
			n, err := strconv.Atoi(v[0])
			if err != nil || n < 0 || n > 10 {
				return nil, fmt.Errorf("retries %q: want 0 to 10", v[0])
			}
			s.Retries = n
		default:
			return nil, fmt.Errorf("unknown query parameter %q (known: timeout, retries)", k)
		}
	}
	var p config.Problems
	s.check(p.Add)
	return s, p.Err()
}

// group turns a table into the driver's group. This is the one place where SNMP secrets leave
// config.Secret, straight into the driver.
func (s *Table) group() Group {
	g := Group{
		Credentials: Credentials{
			Name:           s.name,
			Version:        Version(s.Version),
			Community:      s.Community.Reveal(),
			WriteCommunity: s.WriteCommunity.Reveal(),
		},
		Timeout: s.Timeout,
		Retries: s.Retries,
	}
	if v := s.V3; v != nil {
		g.V3 = &V3Auth{User: v.User, AuthProtocol: v.AuthProtocol, AuthPassword: v.AuthPassword.Reveal(),
			PrivProtocol: v.PrivProtocol, PrivPassword: v.PrivPassword.Reveal(), ContextName: v.ContextName}
	}
	for _, t := range s.Targets {
		g.Targets = append(g.Targets, Target{Host: t.Host, Port: t.Port, Prefix: t.Prefix})
	}
	return g
}
