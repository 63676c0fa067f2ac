package modbus

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgegw/edgegw/config"
	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/internal/tomlx"
)

// TableConfig is one [[discovery.modbus]] table: Modbus TCP endpoints, or one serial line (RTU), and
// the unit ids to ask on each.
type TableConfig struct {
	// Targets are Modbus TCP endpoints, "host" or "host:port" (port default Port); a CIDR counts against
	// discovery.max_addresses like SNMP's. Leave it out for a serial line.
	Targets config.Targets `toml:"targets"`
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

// UnitIDs is a list of Modbus unit ids, written as integers and "A-B" ranges.
type UnitIDs []uint8

const (
	defaultTimeout = 2 * time.Second
	defaultBaud    = 19200
	defaultParity  = "even"
	maxUnitIDs     = 256
)

var (
	parities      = []string{"none", "even", "odd"}
	unitRangeRE   = regexp.MustCompile(`^\s*(\d{1,3})\s*-\s*(\d{1,3})\s*$`)
	profileNameRE = regexp.MustCompile(`^[a-z0-9-]+$`)
)

var tableKeys = []string{"targets", "port", "unit_ids", "timeout", "serial", "baud", "parity", "stop_bits", "data_bits", "profile"}

// SetDefaults fills a table before its keys are decoded over it.
func (m *TableConfig) SetDefaults() {
	*m = TableConfig{Port: DefaultPort, UnitIDs: UnitIDs{1}, Timeout: defaultTimeout, Baud: defaultBaud,
		Parity: defaultParity, StopBits: 1, DataBits: 8}
}

// Name is the table's key path ("discovery.modbus[0]"), the credential reference in sightings.
func (m *TableConfig) Name() string { return m.name }

// Sweep lists the table's TCP targets.
func (m *TableConfig) Sweep() []config.Target { return m.Targets }

func decodeTable(t tomlx.Table, _ *config.Env) config.Table {
	var m TableConfig
	m.SetDefaults()
	tomlx.Decode(t, &m)
	m.name = t.Path
	m.Parity = config.Canonical(m.Parity, parities)
	config.ParseTargets(t.Doc.Errorf, m.name, m.Targets, m.Port)
	m.check(t.Doc.Errorf)
	return &m
}

// check reports every problem of a table at its key.
func (m *TableConfig) check(check config.Checker) {
	p := m.name
	switch {
	case len(m.Targets) == 0 && m.Serial == "":
		check(p+".targets", "required: list Modbus TCP endpoints, or give serial for an RTU line")
	case len(m.Targets) > 0 && m.Serial != "":
		check(p+".serial", "a table is either TCP targets or one serial line: put the serial line in a [[discovery.modbus]] of its own")
	}
	if m.Serial != "" && !strings.HasPrefix(m.Serial, "/") {
		check(p+".serial", "%q is not a device path like /dev/ttyUSB0", m.Serial)
	}
	config.DurationIn(check, p+".timeout", m.Timeout, config.MinTimeout, config.MaxTimeout)
	if len(m.UnitIDs) > maxUnitIDs {
		check(p+".unit_ids", "at most %d unit ids", maxUnitIDs)
	}
	if !slices.Contains([]int{1200, 2400, 4800, 9600, 14400, 19200, 38400, 57600, 115200}, m.Baud) {
		check(p+".baud", "%d is not a standard rate (1200 ... 115200)", m.Baud)
	}
	config.OneOf(check, p+".parity", m.Parity, parities)
	config.InRange(check, p+".stop_bits", m.StopBits, 1, 2)
	config.InRange(check, p+".data_bits", m.DataBits, 7, 8)
	if m.Profile != "" && !profileNameRE.MatchString(m.Profile) {
		check(p+".profile", "%q is not a profile name (lower-case letters, digits and hyphens)", m.Profile)
	}
}

// DecodeTOML reads unit_ids: integers and "A-B" ranges, each id 1..255, no repeats.
func (u *UnitIDs) DecodeTOML(d *tomlx.Doc, key string, raw any) {
	arr, ok := tomlx.AsArray(raw)
	if !ok {
		d.Errorf(key, "must be an array of unit ids like [1, 2, \"10-20\"], got %s", tomlx.Describe(raw, true))
		return
	}
	var out UnitIDs
	seen := map[int]bool{}
	add := func(ep string, n int) {
		switch {
		case n < 1 || n > 255:
			d.Errorf(ep, "unit id %d is out of range 1..255 (0 is broadcast, which devices never answer)", n)
		case seen[n]:
			d.Errorf(ep, "unit id %d is listed twice", n)
		default:
			seen[n] = true
			out = append(out, uint8(n))
		}
	}
	for i, el := range arr {
		ep := tomlx.JoinIndex(key, i)
		switch x := el.(type) {
		case int64:
			add(ep, int(max(min(x, 1<<20), -1)))
		case string:
			m := unitRangeRE.FindStringSubmatch(x)
			if m == nil {
				d.Errorf(ep, "%q is not a unit id range like \"1-16\"", x)
				continue
			}
			lo, _ := strconv.Atoi(m[1])
			hi, _ := strconv.Atoi(m[2])
			if lo > hi {
				d.Errorf(ep, "range %q runs backwards", x)
				continue
			}
			for n := lo; n <= hi; n++ {
				add(ep, n)
			}
		default:
			d.Errorf(ep, "must be a unit id or a range, got %s", tomlx.Describe(el, true))
		}
	}
	if len(out) == 0 && len(arr) == 0 {
		d.Errorf(key, "must list at least one unit id")
	}
	*u = out
}

// targetTable reads modbus://host[:port]?unit=1&unit=3-5[&timeout=2s][&profile=NAME] (TCP) or
// modbus:///dev/ttyUSB0?unit=1[&baud=19200&parity=even&stop_bits=1] (RTU): a --target URL.
func targetTable(u *url.URL, index int) (config.Table, error) {
	m := &TableConfig{}
	m.SetDefaults()
	m.name = fmt.Sprintf("target[%d]", index)
	q := u.Query()
	switch {
	case u.Host != "" && u.Path != "" && u.Path != "/":
		return nil, fmt.Errorf("unexpected path %q (a serial line is modbus:///dev/ttyUSB0)", u.Path)
	case u.Host != "":
		hostPort := u.Host
		if u.Port() == "" {
			hostPort = u.Hostname()
			if strings.Contains(hostPort, ":") {
				hostPort = "[" + hostPort + "]"
			}
		}
		t, err := config.ParseTarget(hostPort, m.Port)
		if err != nil {
			return nil, err
		}
		m.Targets = config.Targets{t}
	case strings.HasPrefix(u.Path, "/dev/"):
		m.Serial = u.Path
	default:
		return nil, errors.New("no host (want modbus://host[:port]?unit=1 or modbus:///dev/ttyUSB0?unit=1)")
	}
	if units := q["unit"]; len(units) > 0 {
		m.UnitIDs = nil
		for _, s := range units {
			lo, hi, isRange := strings.Cut(s, "-")
			a, err1 := strconv.Atoi(lo)
			b := a
			var err2 error
			if isRange {
				b, err2 = strconv.Atoi(hi)
			}
			if err1 != nil || err2 != nil || a < 1 || b > 255 || a > b {
				return nil, fmt.Errorf("unit %q: want a unit id 1..255 or a range like 2-4", s)
			}
			for n := a; n <= b; n++ {
				m.UnitIDs = append(m.UnitIDs, uint8(n))
			}
		}
	}
	for key, vals := range q {
		v := vals[len(vals)-1]
		var err error
		switch key {
		case "unit":
		case "timeout":
			m.Timeout, err = time.ParseDuration(v)
		case "profile":
			m.Profile = v
		case "baud":
			m.Baud, err = strconv.Atoi(v)
		case "parity":
			m.Parity = strings.ToLower(v)
		case "stop_bits":
			m.StopBits, err = strconv.Atoi(v)
		case "data_bits":
			m.DataBits, err = strconv.Atoi(v)
		default:
			return nil, fmt.Errorf("unknown parameter %q (known: unit, timeout, profile, baud, parity, stop_bits, data_bits)", key)
		}
		if err != nil {
			return nil, fmt.Errorf("%s=%q: %v", key, v, err)
		}
	}
	var p config.Problems
	m.check(p.Add)
	return m, p.Err()
}

// table turns a configuration table into the driver's.
func (m *TableConfig) table() Table {
	t := Table{Name: m.name, UnitIDs: m.UnitIDs, Timeout: m.Timeout, Profile: m.Profile}
	if m.Serial != "" {
		t.Serial = &Serial{Device: m.Serial, Baud: m.Baud, DataBits: m.DataBits, Parity: m.Parity, StopBits: m.StopBits}
		return t
	}
	for _, x := range m.Targets {
		t.Targets = append(t.Targets, gateway.Target{Host: x.Host, Port: x.Port, Prefix: x.Prefix})
	}
	return t
}
