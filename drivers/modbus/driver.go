// Package modbus is edgegw's Modbus driver: Modbus TCP endpoints and Modbus RTU serial lines, each
// with a list of unit ids. It identifies units by Read Device Identification (function 43/14) and
// SunSpec ("SunS" and the model list), polls profile register points in coalesced reads, and writes
// settings with functions 5, 6 and 16. It is the only package (besides the simulator) that imports
// goburrow/modbus.
//
// One connection per endpoint: many Modbus devices accept one or two TCP connections, so every unit id
// behind an endpoint, and every table that names it, shares one bus whose requests take turns.
package modbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgegw/edgegw/gateway"
)

// Protocol is the name of this driver's protocol in sightings and endpoints.
const Protocol = "modbus"

// DefaultPort is the Modbus TCP port.
const DefaultPort = 502

// Serial is a Modbus RTU line's settings.
type Serial struct {
	Device   string // "/dev/ttyUSB0"
	Baud     int    // zero means 19200
	DataBits int    // zero means 8
	Parity   string // "none", "even" (default) or "odd"
	StopBits int    // zero means 1
}

// Table is one configured set of endpoints and the unit ids to ask on each: Modbus TCP targets, or one
// serial line.
type Table struct {
	// Name is the reference stored in sightings ("discovery.modbus[0]"), unique per driver.
	Name    string
	Targets []gateway.Target // Port zero means 502
	Serial  *Serial          // instead of Targets
	// UnitIDs to ask at every endpoint; empty means [1].
	UnitIDs []uint8
	// Timeout per request; zero means 2 s.
	Timeout time.Duration
	// Profile names the profile for units that identify themselves in no way (most energy meters).
	Profile string
}

// Options configure a Driver. The zero value of each field is documented.
type Options struct {
	Tables []Table
	// Profiles is the profile library: the driver matches units to its Modbus profiles at discovery;
	// nil means identity from function 43 and SunSpec only, and no points.
	Profiles gateway.Profiles
	// MaxAddresses bounds how many TCP addresses one discovery pass probes; zero means 4096.
	MaxAddresses int
	// Concurrency is how many endpoints a discovery pass works on at once; zero means 16. Units behind
	// one endpoint are always asked one after another.
	Concurrency int
	// IdleTimeout closes a connection nobody used for this long; zero means 30 s.
	IdleTimeout time.Duration
	// Neighbors finds a host's MAC in the neighbour table, for a TCP endpoint where exactly one unit
	// answers and that unit says no MAC itself. nil means no lookup.
	Neighbors func(ip netip.Addr) (mac string, ok bool)
	// Logger receives debug detail; nil discards.
	Logger *slog.Logger
}

// Driver discovers, polls and writes Modbus units. It is safe for concurrent use.
type Driver struct {
	opts   Options
	tables map[string]*Table
	buses  buses
	log    *slog.Logger
	match  *matcher

	mu    sync.Mutex
	units map[string]*unitState // by endpoint address
}

// unitState is what the driver learnt about one unit: where its SunSpec models are, and whether reads
// may span several points.
type unitState struct {
	models map[int]uint16 // SunSpec model id -> address of the model's first data register
	walked bool           // models holds the result of a SunSpec walk
	strict bool           // the unit refused a coalesced read: read point by point
}

var (
	_ gateway.Discoverer   = (*Driver)(nil)
	_ gateway.Poller       = (*Driver)(nil)
	_ gateway.Writer       = (*Driver)(nil)
	_ gateway.Reidentifier = (*Driver)(nil)
)

// New checks the options and makes a driver. It opens no connection until the first request.
func New(opts Options) (*Driver, error) {
	if opts.MaxAddresses <= 0 {
		opts.MaxAddresses = 4096
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 16
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 30 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Driver{opts: opts, tables: map[string]*Table{}, log: log.With("driver", Protocol), match: newMatcher(opts.Profiles),
		buses: buses{idle: opts.IdleTimeout, m: map[string]*bus{}}, units: map[string]*unitState{}}
	for i := range d.opts.Tables {
		t := &d.opts.Tables[i]
		if t.Name == "" {
			t.Name = "modbus[" + strconv.Itoa(i) + "]"
		}
		if _, dup := d.tables[t.Name]; dup {
			return nil, fmt.Errorf("modbus: two tables are named %q", t.Name)
		}
		if (len(t.Targets) == 0) == (t.Serial == nil) {
			return nil, fmt.Errorf("modbus: %s: give TCP targets or a serial line (one of them)", t.Name)
		}
		if t.Serial != nil {
			s := *t.Serial
			if !strings.HasPrefix(s.Device, "/") {
				return nil, fmt.Errorf("modbus: %s: %q is not a serial device path", t.Name, s.Device)
			}
			s.Baud, s.DataBits, s.StopBits = or(s.Baud, 19200), or(s.DataBits, 8), or(s.StopBits, 1)
			if s.Parity == "" {
				s.Parity = "even"
			}
			if s.Parity != "none" && s.Parity != "even" && s.Parity != "odd" {
				return nil, fmt.Errorf("modbus: %s: parity %q is not none, even or odd", t.Name, s.Parity)
			}
			t.Serial = &s
		}
		targets := make([]gateway.Target, len(t.Targets))
		for j, tg := range t.Targets {
			if tg.Port == 0 {
				tg.Port = DefaultPort
			}
			targets[j] = tg
		}
		t.Targets = targets
		if len(t.UnitIDs) == 0 {
			t.UnitIDs = []uint8{1}
		}
		if t.Timeout <= 0 {
			t.Timeout = 2 * time.Second
		}
		d.tables[t.Name] = t
	}
	return d, nil
}

// Close closes every connection, waiting for requests in flight. It is idempotent.
func (d *Driver) Close() error {
	d.buses.closeAll()
	return nil
}

func or(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// Address is where a unit is reached, as stored in endpoints: "host:port?unit=N" for Modbus TCP,
// "/dev/ttyUSB0?unit=N" for RTU (the same form as `edgegw discover --target modbus://...`).
func Address(endpoint string, unit uint8) string {
	return endpoint + "?unit=" + strconv.Itoa(int(unit))
}

// parseAddress splits an endpoint address into the bus key and the unit id.
func parseAddress(addr string) (key string, unit uint8, err error) {
	key, q, ok := strings.Cut(addr, "?unit=")
	n, perr := strconv.ParseUint(q, 10, 8)
	if !ok || key == "" || perr != nil {
		return "", 0, fmt.Errorf("modbus: %q is not a unit address like 127.0.0.1:502?unit=1", addr)
	}
	return key, uint8(n), nil
}

// target finds the table and bus of an endpoint. A twin restored from the state store after its table
// was removed from the configuration gets a clear error on every poll.
func (d *Driver) target(ep gateway.Endpoint) (*Table, *unit, error) {
	t, ok := d.tables[ep.Credential]
	if !ok {
		return nil, nil, fmt.Errorf("modbus %s: no [[discovery.modbus]] table %q in the configuration (was it removed?)", ep.Address, ep.Credential)
	}
	key, id, err := parseAddress(ep.Address)
	if err != nil {
		return nil, nil, err
	}
	return t, d.unit(t, key, id), nil
}

// unit is one unit id behind a bus, with the settings of the table that found it.
type unit struct {
	bus     *bus
	id      uint8
	addr    string // Address(bus.key, id)
	timeout time.Duration
	state   *unitState
}

func (d *Driver) unit(t *Table, key string, id uint8) *unit {
	addr := Address(key, id)
	d.mu.Lock()
	st, ok := d.units[addr]
	if !ok {
		st = &unitState{}
		d.units[addr] = st
	}
	d.mu.Unlock()
	return &unit{bus: d.buses.get(key, t.Serial), id: id, addr: addr, timeout: t.Timeout, state: st}
}

// errorf wraps err with the unit and what was being done: "modbus 127.0.0.1:502 unit 3: read holding
// 40000+2: exception 02 (illegal data address)".
func (u *unit) errorf(err error, format string, args ...any) error {
	return fmt.Errorf("modbus %s unit %d: %s: %w", u.bus.key, u.id, fmt.Sprintf(format, args...), err)
}

// models returns the unit's SunSpec model map, walking it now if no discovery did yet (after a restart).
func (d *Driver) models(ctx context.Context, u *unit) (map[int]uint16, error) {
	d.mu.Lock()
	if u.state.walked {
		m := u.state.models
		d.mu.Unlock()
		return m, nil
	}
	d.mu.Unlock()
	m, err := d.walkSunSpec(ctx, u)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	u.state.models, u.state.walked = m, true
	d.mu.Unlock()
	return m, nil
}

// ErrNotWritable is a point that cannot be written (an input register, no register at all).
var ErrNotWritable = errors.New("not writable")
