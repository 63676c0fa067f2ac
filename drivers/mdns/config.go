package mdns

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/edgegw/edgegw/config"
	"github.com/edgegw/edgegw/gateway/protocol"
	"github.com/edgegw/edgegw/internal/neigh"
	"github.com/edgegw/edgegw/internal/tomlx"
)

// TableConfig is the [discovery.mdns] table: the DNS-SD service types to browse for.
type TableConfig struct {
	// Services are service types, "_pjlink._tcp"; required.
	Services []string `toml:"services"`
	// Interface is the network interface to query on ("eth1"); empty lets the system choose.
	Interface string `toml:"interface"`
	// Timeout is how long each browse listens for answers, 100ms..30s; default 2s.
	Timeout time.Duration `toml:"timeout"`

	name string
}

var ifaceRE = regexp.MustCompile(`^[A-Za-z0-9_.:@-]{1,15}$`)

// SetDefaults fills the table before its keys are decoded over it.
func (m *TableConfig) SetDefaults() { *m = TableConfig{Timeout: 2 * time.Second} }

// Name is the table's key path, the credential reference in sightings.
func (m *TableConfig) Name() string { return m.name }

// Sweep is nil: mDNS asks by service type, not address.
func (m *TableConfig) Sweep() []config.Target { return nil }

func decodeTable(t tomlx.Table, _ *config.Env) config.Table {
	var m TableConfig
	m.SetDefaults()
	tomlx.Decode(t, &m)
	m.name = t.Path
	m.check(t.Doc.Errorf)
	return &m
}

func (m *TableConfig) check(check config.Checker) {
	if len(m.Services) == 0 {
		check(m.name+".services", "required: list the service types to browse, like [\"_pjlink._tcp\"]")
	}
	for i, s := range m.Services {
		if !serviceRE.MatchString(strings.TrimSuffix(strings.TrimSuffix(s, "."), ".local")) {
			check(fmt.Sprintf("%s.services[%d]", m.name, i), "%q is not a service type like \"_pjlink._tcp\"", s)
		}
	}
	if m.Interface != "" && !ifaceRE.MatchString(m.Interface) {
		check(m.name+".interface", "%q is not an interface name", m.Interface)
	}
	config.DurationIn(check, m.name+".timeout", m.Timeout, 100*time.Millisecond, 30*time.Second)
}

// targetTable reads mdns://_service._tcp?interface=IF[&timeout=2s]: a --target URL.
func targetTable(u *url.URL, index int) (config.Table, error) {
	m := &TableConfig{}
	m.SetDefaults()
	m.name = fmt.Sprintf("target[%d]", index)
	svc := strings.TrimSuffix(u.Host+u.Path, "/")
	if svc == "" {
		return nil, errors.New("no service type (want mdns://_service._tcp?interface=IF)")
	}
	m.Services = []string{svc}
	for key, vals := range u.Query() {
		v := vals[len(vals)-1]
		switch key {
		case "interface":
			m.Interface = v
		case "timeout":
			d, err := time.ParseDuration(v)
			if err != nil {
				return nil, fmt.Errorf("timeout=%q: %v", v, err)
			}
			m.Timeout = d
		default:
			return nil, fmt.Errorf("unknown parameter %q (known: interface, timeout)", key)
		}
	}
	var p config.Problems
	m.check(p.Add)
	return m, p.Err()
}

// Spec describes mDNS to the rest of the gateway: the [discovery.mdns] table, mdns:// targets, profiles
// whose points are TXT keys. mDNS ranks last on identity: a TXT record is free text a firmware writes
// for browsers.
func Spec() protocol.Spec {
	return protocol.Spec{
		Name:    Protocol,
		Rank:    30,
		Config:  config.TableCodec{Name: Protocol, Decode: decodeTable, Keys: []string{"services", "interface", "timeout"}},
		Target:  targetTable,
		Profile: profileCodec{},
		New: func(o protocol.Options) (protocol.Driver, error) {
			// One browser per interface: the services of several tables (several mdns:// targets) go
			// into one.
			var opts Options
			for i, t := range o.Tables {
				m, ok := t.(*TableConfig)
				if !ok {
					return nil, fmt.Errorf("mdns: a %T is not an mDNS table", t)
				}
				if i > 0 && m.Interface != opts.Interface {
					return nil, fmt.Errorf("mDNS targets on two interfaces (%q and %q): browse one interface at a time", opts.Interface, m.Interface)
				}
				opts.Interface = m.Interface
				opts.Timeout = max(opts.Timeout, m.Timeout)
				for _, s := range m.Services {
					if !slices.Contains(opts.Services, s) {
						opts.Services = append(opts.Services, s)
					}
				}
			}
			opts.Profiles, opts.Neighbors, opts.Logger = o.Profiles, neigh.Lookup, o.Logger
			return New(opts)
		},
	}
}
