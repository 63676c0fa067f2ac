package config

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Modbus is one [[discovery.modbus]] table: Modbus TCP endpoints, or one serial line (RTU), and the
// unit ids to ask on each.
type Modbus struct {
	// Targets are Modbus TCP endpoints, "host" or "host:port" (port default Port); a CIDR counts
	// against discovery.max_addresses like SNMP's. Leave it out for a serial line.
	Targets Targets `toml:"targets"`
	// Port is used for targets written without one; default 502.
	Port uint16 `toml:"port"`
	// UnitIDs are the unit ids (slave addresses) to ask at each target: integers 1..255 or ranges
	// "1-16". Default [1]. TCP gateways to RS-485 lines use one per meter behind them.
	UnitIDs UnitIDs `toml:"unit_ids"`
	// Timeout per request, 10ms..60s; default 2s.
	Timeout time.Duration `toml:"timeout"`
	// Serial is a serial device for Modbus RTU ("/dev/ttyUSB0"); it excludes Targets.
	Serial string `toml:"serial"`
	// Baud, Parity ("none", "even", "odd"), StopBits (1, 2) and DataBits (7, 8) of the serial line;
	// defaults 19200, "even", 1, 8 (the Modbus RTU standard 8E1).
	Baud     int    `toml:"baud"`
	Parity   string `toml:"parity"`
	StopBits int    `toml:"stop_bits"`
	DataBits int    `toml:"data_bits"`
	// Profile names the profile for units that do not identify themselves (no Read Device
	// Identification, no SunSpec), such as most energy meters. Empty: such units get no points.
	Profile string `toml:"profile"`

	name string
}

// Name is this table's key path ("discovery.modbus[0]"), the credential reference in sightings.
func (m *Modbus) Name() string { return m.name }

// MDNS is the [discovery.mdns] table: the DNS-SD service types to browse for.
type MDNS struct {
	// Services are service types, "_pjlink._tcp"; required.
	Services []string `toml:"services"`
	// Interface is the network interface to query on ("eth1"); empty lets the system choose.
	Interface string `toml:"interface"`
	// Timeout is how long each browse listens for answers, 100ms..30s; default 2s.
	Timeout time.Duration `toml:"timeout"`
}

// UnitIDs is a list of Modbus unit ids, written as integers and "A-B" ranges.
type UnitIDs []uint8

const (
	defaultModbusPort    = 502
	defaultModbusTimeout = 2 * time.Second
	defaultBaud          = 19200
	defaultParity        = "even"
	defaultMDNSTimeout   = 2 * time.Second
	maxUnitIDs           = 256
)

var (
	unitIDsType = reflect.TypeFor[UnitIDs]()
	parities    = []string{"none", "even", "odd"}
	unitRangeRE = regexp.MustCompile(`^\s*(\d{1,3})\s*-\s*(\d{1,3})\s*$`)
	serviceRE   = regexp.MustCompile(`^_[A-Za-z0-9][A-Za-z0-9-]{0,62}\._(tcp|udp)$`)
	ifaceRE     = regexp.MustCompile(`^[A-Za-z0-9_.:@-]{1,15}$`)
)

func (m *Modbus) SetDefaults() {
	*m = Modbus{Port: defaultModbusPort, UnitIDs: UnitIDs{1}, Timeout: defaultModbusTimeout, Baud: defaultBaud,
		Parity: defaultParity, StopBits: 1, DataBits: 8}
}

func (m *MDNS) SetDefaults() { *m = MDNS{Timeout: defaultMDNSTimeout} }

// resolve parses targets and canonical spellings of one [[discovery.modbus]] table.
func (m *Modbus) resolve(es *errs, i int) {
	m.name = fmt.Sprintf("discovery.modbus[%d]", i)
	m.Parity = canonical(m.Parity, parities)
	parseTargets(es, m.name, m.Targets, m.Port)
}

// validate checks one [[discovery.modbus]] table.
func (m *Modbus) validate(es *errs, p string) {
	switch {
	case len(m.Targets) == 0 && m.Serial == "":
		es.add(p+".targets", "required: list Modbus TCP endpoints, or give serial for an RTU line")
	case len(m.Targets) > 0 && m.Serial != "":
		es.add(p+".serial", "a table is either TCP targets or one serial line: put the serial line in a [[discovery.modbus]] of its own")
	}
	if m.Serial != "" && !strings.HasPrefix(m.Serial, "/") {
		es.add(p+".serial", "%q is not a device path like /dev/ttyUSB0", m.Serial)
	}
	if m.Timeout < minSNMPTimeout || m.Timeout > maxSNMPTimeout {
		es.add(p+".timeout", "must be between %s and %s, got %s", fmtDuration(minSNMPTimeout), fmtDuration(maxSNMPTimeout), fmtDuration(m.Timeout))
	}
	if len(m.UnitIDs) > maxUnitIDs {
		es.add(p+".unit_ids", "at most %d unit ids", maxUnitIDs)
	}
	if !slices.Contains([]int{1200, 2400, 4800, 9600, 14400, 19200, 38400, 57600, 115200}, m.Baud) {
		es.add(p+".baud", "%d is not a standard rate (1200 ... 115200)", m.Baud)
	}
	if !slices.Contains(parities, m.Parity) {
		es.add(p+".parity", "%q is not one of %s", m.Parity, quoteList(parities))
	}
	checkRange(es, p+".stop_bits", m.StopBits, 1, 2)
	checkRange(es, p+".data_bits", m.DataBits, 7, 8)
	if m.Profile != "" && !profileNameRE.MatchString(m.Profile) {
		es.add(p+".profile", "%q is not a profile name (lower-case letters, digits and hyphens)", m.Profile)
	}
}

var profileNameRE = regexp.MustCompile(`^[a-z0-9-]+$`)

// validate checks the [discovery.mdns] table.
func (m *MDNS) validate(es *errs) {
	if len(m.Services) == 0 {
		es.add("discovery.mdns.services", "required: list the service types to browse, like [\"_pjlink._tcp\"]")
	}
	for i, s := range m.Services {
		if !serviceRE.MatchString(strings.TrimSuffix(strings.TrimSuffix(s, "."), ".local")) {
			es.add(fmt.Sprintf("discovery.mdns.services[%d]", i), "%q is not a service type like \"_pjlink._tcp\"", s)
		}
	}
	if m.Interface != "" && !ifaceRE.MatchString(m.Interface) {
		es.add("discovery.mdns.interface", "%q is not an interface name", m.Interface)
	}
	if m.Timeout < 100*time.Millisecond || m.Timeout > 30*time.Second {
		es.add("discovery.mdns.timeout", "must be between 100ms and 30s, got %s", fmtDuration(m.Timeout))
	}
}
