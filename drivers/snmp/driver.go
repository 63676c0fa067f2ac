// Package snmp is edgegw's SNMP driver (v1, v2c, v3 USM): discovery sweeps that read a device's
// identity from MIB-II, ENTITY-MIB, Printer-MIB, UPS-MIB and profile-named vendor OIDs, and polling of
// profile points. It is the only package that imports gosnmp.
package snmp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/edgegw/edgegw/gateway"
)

// Protocol is the name of this driver's protocol in sightings and endpoints.
const Protocol = "snmp"

// Version is an SNMP protocol version.
type Version string

// The versions.
const (
	V1  Version = "1"
	V2c Version = "2c"
	V3  Version = "3"
)

// V3Auth is a v3 user's USM settings.
type V3Auth struct {
	User         string
	AuthProtocol string // MD5, SHA, SHA224, SHA256, SHA384, SHA512
	AuthPassword string
	PrivProtocol string // none, DES, AES, AES192, AES256, AES192C, AES256C
	PrivPassword string
	ContextName  string

	auth  gosnmp.SnmpV3AuthProtocol
	priv  gosnmp.SnmpV3PrivProtocol
	flags gosnmp.SnmpV3MsgFlags
}

// Credentials say how to talk to an agent. They hold secrets: never log or print them; Name is the
// printable reference.
type Credentials struct {
	// Name is the reference stored in sightings ("discovery.snmp[0]"), unique per driver.
	Name           string
	Version        Version
	Community      string
	WriteCommunity string // community for SETs; "" = Community
	V3             *V3Auth
}

// Target is one host or prefix to sweep; Port zero means 161.
type Target = gateway.Target

// Group is a set of targets that share credentials and timing.
type Group struct {
	Credentials
	Targets []Target
	Timeout time.Duration // per request; zero means 2 s
	Retries int
}

// Options configure a Driver. The zero value of each field is documented.
type Options struct {
	Groups []Group
	// MaxAddresses bounds how many addresses one discovery pass probes (CIDR targets are expanded lazily
	// up to it). Zero means 4096.
	MaxAddresses int
	// Concurrency is how many requests are in flight at once, for discovery and polling together; it is
	// also the number of sockets the driver holds. Zero means 64. A sweep's probes are not counted: they
	// hold no worker (see ProbeRate).
	Concurrency int
	// ProbeRate caps the probes per second a sweep of prefix targets sends. Zero means
	// DefaultProbeRate.
	ProbeRate int
	// Profiles are the profile library: the driver matches each device to an SNMP profile and reads
	// its vendor identity at discovery. nil means standard MIBs only.
	Profiles gateway.Profiles
	// Progress, if set, is called after each address of a discovery pass with the count done and the
	// total to do.
	Progress func(done, total int)
	// Logger receives debug detail; nil discards.
	Logger *slog.Logger
	// Traps configure the trap and inform receiver (Listen); nil: none.
	Traps *TrapOptions
}

// Driver discovers and polls SNMP agents. It is safe for concurrent use.
type Driver struct {
	opts   Options
	groups map[string]*Group // by credential name
	pool   *pool
	log    *slog.Logger
	usmMu  sync.Mutex
	usm    map[string]*usmState // by credential name + "|" + address
	res    sync.Map             // identity expression -> *regexp.Regexp
	match  *matcher
	closed sync.Once
	// rules name the traps the receiver gets (events.go); recv is the receiver once it listens.
	rules *rules
	recv  atomic.Pointer[receiver]
	// serialAt is, per credential and address, the object an agent's serial was read from as it is
	// and the serial read there (a serialPlace): Reidentify reads only that.
	serialAt sync.Map
	// lastSweep holds the counts of the last discovery pass.
	lastSweep atomic.Pointer[SweepStats]
}

var (
	_ gateway.Discoverer = (*Driver)(nil)
	_ gateway.Poller     = (*Driver)(nil)
	_ gateway.Listener   = (*Driver)(nil)
)

// New checks the options and makes a driver. It opens no socket until the first request.
func New(opts Options) (*Driver, error) {
	if opts.MaxAddresses <= 0 {
		opts.MaxAddresses = 4096
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 64
	}
	if opts.ProbeRate <= 0 {
		opts.ProbeRate = DefaultProbeRate
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Driver{
		opts:   opts,
		groups: map[string]*Group{},
		pool:   newPool(opts.Concurrency),
		log:    log.With("driver", Protocol),
		usm:    map[string]*usmState{},
	}
	for i := range opts.Groups {
		g := &d.opts.Groups[i]
		if g.Name == "" {
			g.Name = "snmp[" + strconv.Itoa(i) + "]"
		}
		if _, dup := d.groups[g.Name]; dup {
			return nil, fmt.Errorf("snmp: two target groups are named %q", g.Name)
		}
		if err := g.Credentials.check(); err != nil {
			return nil, fmt.Errorf("snmp: %s: %w", g.Name, err)
		}
		if g.Timeout <= 0 {
			g.Timeout = 2 * time.Second
		}
		g.Targets = slices.Clone(g.Targets)
		for j := range g.Targets {
			if g.Targets[j].Port == 0 {
				g.Targets[j].Port = 161
			}
		}
		d.groups[g.Name] = g
	}
	m, err := newMatcher(opts.Profiles)
	if err != nil {
		return nil, err
	}
	d.match = m
	d.rules = newRules(opts.Profiles)
	return d, nil
}

// Close releases the driver's sockets. In-flight requests fail. It is idempotent.
func (d *Driver) Close() error {
	d.closed.Do(d.pool.close)
	return nil
}

func (c *Credentials) check() error {
	switch c.Version {
	case "", V2c:
		c.Version = V2c
	case V1:
	case V3:
		if c.V3 == nil {
			return errors.New("version 3 needs a v3 user")
		}
		return c.V3.check()
	default:
		return fmt.Errorf("unknown SNMP version %q", c.Version)
	}
	if c.Community == "" {
		return errors.New("community is empty")
	}
	return nil
}

// The protocol names the configuration accepts ("" is the default: SHA, no privacy). AES256 is
// net-snmp's AES-256 (Blumenthal key extension); AES256C is Cisco's (Reeder).
var (
	authProtocols = map[string]gosnmp.SnmpV3AuthProtocol{"": gosnmp.SHA, "NONE": gosnmp.NoAuth, "MD5": gosnmp.MD5,
		"SHA": gosnmp.SHA, "SHA1": gosnmp.SHA, "SHA224": gosnmp.SHA224, "SHA256": gosnmp.SHA256,
		"SHA384": gosnmp.SHA384, "SHA512": gosnmp.SHA512}
	privProtocols = map[string]gosnmp.SnmpV3PrivProtocol{"": gosnmp.NoPriv, "NONE": gosnmp.NoPriv, "DES": gosnmp.DES,
		"AES": gosnmp.AES, "AES192": gosnmp.AES192, "AES256": gosnmp.AES256, "AES192C": gosnmp.AES192C,
		"AES256C": gosnmp.AES256C}
)

func (v *V3Auth) check() error {
	if v.User == "" {
		return errors.New("v3 user is empty")
	}
	var ok bool
	if v.auth, ok = authProtocols[strings.ToUpper(v.AuthProtocol)]; !ok {
		return fmt.Errorf("unknown v3 auth protocol %q", v.AuthProtocol)
	}
	if v.priv, ok = privProtocols[strings.ToUpper(v.PrivProtocol)]; !ok {
		return fmt.Errorf("unknown v3 privacy protocol %q", v.PrivProtocol)
	}
	switch {
	case v.auth == gosnmp.NoAuth && v.priv != gosnmp.NoPriv:
		return errors.New("v3 privacy needs authentication")
	case v.auth == gosnmp.NoAuth:
		v.flags = gosnmp.NoAuthNoPriv
	case v.priv == gosnmp.NoPriv:
		v.flags = gosnmp.AuthNoPriv
	default:
		v.flags = gosnmp.AuthPriv
	}
	return nil
}

// client is one exchange with one agent: a session pointed at it, released by done.
type client struct {
	d    *Driver
	s    *session
	addr string
	usm  *usmState
}

// open takes a session from the pool and points it at addr with creds.
func (d *Driver) open(ctx context.Context, addr string, c *Credentials, timeout time.Duration, retries int) (*client, error) {
	peer, err := resolve(ctx, addr)
	if err != nil {
		return nil, err
	}
	var usm *usmState
	if c.Version == V3 {
		key := c.Name + "|" + addr
		d.usmMu.Lock()
		usm = d.usm[key]
		d.usmMu.Unlock()
		if usm == nil {
			if usm, err = newUSM(c, timeout); err != nil {
				return nil, err
			}
			d.usmMu.Lock()
			if prev := d.usm[key]; prev != nil {
				usm = prev
			} else {
				d.usm[key] = usm
			}
			d.usmMu.Unlock()
		}
		usm.mu.Lock()
	}
	s, err := d.pool.get(ctx)
	if err != nil {
		if usm != nil {
			usm.mu.Unlock()
		}
		return nil, err
	}
	s.prepare(ctx, peer, c, timeout, retries, usm)
	return &client{d: d, s: s, addr: addr, usm: usm}, nil
}

func (cl *client) done() {
	cl.s.finish(cl.usm)
	cl.d.pool.put(cl.s)
	if cl.usm != nil {
		cl.usm.mu.Unlock()
	}
}

// resolve turns "host:port" into an address. Host names are looked up (with ctx) so a site may list
// devices by name.
func resolve(ctx context.Context, addr string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return ap, nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("snmp %s: %w", addr, err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("snmp %s: bad port %q", addr, port)
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return netip.AddrPort{}, fmt.Errorf("snmp %s: resolve %s: %w", addr, host, err)
	}
	return netip.AddrPortFrom(ips[0].Unmap(), uint16(p)), nil
}

// get reads oids in as few requests as the agent allows (gosnmp sends at most 60 per request). The result
// maps each OID that the agent answered with a value; missing objects are absent. With SNMPv1 an agent
// fails the whole request for one missing object (noSuchName): that object is dropped and the rest asked
// again.
func (cl *client) get(oids []string) (map[string]gosnmp.SnmpPDU, error) {
	out := make(map[string]gosnmp.SnmpPDU, len(oids))
	for len(oids) > 0 {
		n := min(len(oids), gosnmp.MaxOids)
		chunk := append([]string(nil), oids[:n]...)
		oids = oids[n:]
		for len(chunk) > 0 {
			res, err := cl.s.exchange(gosnmp.GetRequest, chunk, 0)
			if err != nil {
				return out, err
			}
			if res.Error == gosnmp.TooBig && len(chunk) > 1 {
				// The answer would not fit the agent's message size: ask for half now, the rest later.
				half := len(chunk) / 2
				oids = append(chunk[half:], oids...)
				chunk = chunk[:half]
				continue
			}
			if res.Error == gosnmp.NoSuchName && cl.s.g.Version == gosnmp.Version1 && res.ErrorIndex >= 1 && int(res.ErrorIndex) <= len(chunk) {
				chunk = append(chunk[:res.ErrorIndex-1], chunk[res.ErrorIndex:]...)
				continue
			}
			if res.Error != gosnmp.NoError {
				return out, fmt.Errorf("agent error %s (index %d)", res.Error, res.ErrorIndex)
			}
			for _, v := range res.Variables {
				switch v.Type {
				case gosnmp.NoSuchObject, gosnmp.NoSuchInstance, gosnmp.EndOfMibView, gosnmp.Null:
					continue
				}
				out[normOID(v.Name)] = v
			}
			break
		}
	}
	return out, nil
}

// columns reads table columns together, at most limit rows each: one GETBULK asks for the next
// MaxRepetitions rows of every column not finished yet, until each has left its column (v1: a walk
// per column). It returns each column's varbinds in order, by the column's normalised OID.
func (cl *client) columns(cols []string, limit int) (map[string][]gosnmp.SnmpPDU, error) {
	out := make(map[string][]gosnmp.SnmpPDU, len(cols))
	if cl.s.g.Version == gosnmp.Version1 {
		for _, c := range cols {
			c = normOID(c)
			if err := cl.walk(c, limit, func(p gosnmp.SnmpPDU) { out[c] = append(out[c], p) }); err != nil {
				return out, err
			}
		}
		return out, nil
	}
	type cursor struct{ col, prefix, at string } // prefix is col + "."
	active := make([]cursor, 0, len(cols))
	for _, c := range cols {
		c = normOID(c)
		active = append(active, cursor{c, c + ".", c})
	}
	reps := uint32(max(1, min(int(cl.s.g.MaxRepetitions), gosnmp.MaxOids/len(active))))
	for round := 0; len(active) > 0; round++ {
		if round > limit {
			return out, fmt.Errorf("table columns still going after %d requests", round)
		}
		ask := make([]string, len(active))
		for i, a := range active {
			ask[i] = a.at
		}
		res, err := cl.s.exchange(gosnmp.GetBulkRequest, ask, reps)
		if err != nil {
			return out, err
		}
		if res.Error != gosnmp.NoError {
			return out, fmt.Errorf("agent error %s (index %d)", res.Error, res.ErrorIndex)
		}
		done := make([]bool, len(active))
		moved := make([]bool, len(active))
		for j, v := range res.Variables {
			i := j % len(active)
			if done[i] {
				continue
			}
			name := normOID(v.Name)
			c := &active[i]
			if v.Type == gosnmp.EndOfMibView || !strings.HasPrefix(name, c.prefix) || len(out[c.col]) >= limit || !oidAfter(name, c.at) {
				done[i] = true
				continue
			}
			out[c.col] = append(out[c.col], v)
			c.at, moved[i] = name, true
		}
		// A column not finished was cut short by the agent's message size: go on from its last row. An
		// answer that moved no column at all would repeat forever.
		next, any := active[:0], false
		for i, c := range active {
			any = any || moved[i]
			if !done[i] {
				next = append(next, c)
			}
		}
		if !any && len(next) > 0 {
			return out, fmt.Errorf("table columns: the agent's answer moved no column (%d varbinds)", len(res.Variables))
		}
		active = next
	}
	return out, nil
}

// oidAfter reports whether a comes after b in OID order (agents that loop are stopped by it). It
// compares arc by arc in place: it runs for every varbind of a table read.
func oidAfter(a, b string) bool {
	a, b = strings.TrimPrefix(a, "."), strings.TrimPrefix(b, ".")
	for {
		x, restA, moreA := strings.Cut(a, ".")
		y, restB, moreB := strings.Cut(b, ".")
		if c := cmpArc(x, y); c != 0 {
			return c > 0
		}
		if !moreA || !moreB {
			return moreA // a has arcs left where b ended
		}
		a, b = restA, restB
	}
}

// cmpArc compares two decimal arcs by value, of any length.
func cmpArc(x, y string) int {
	x, y = strings.TrimLeft(x, "0"), strings.TrimLeft(y, "0")
	if len(x) != len(y) {
		return len(x) - len(y)
	}
	return strings.Compare(x, y)
}

// walk reads the subtree under root, at most limit varbinds, with GetBulk (GetNext for v1).
func (cl *client) walk(root string, limit int, fn func(gosnmp.SnmpPDU)) error {
	n := 0
	errStop := errors.New("limit")
	f := func(p gosnmp.SnmpPDU) error {
		if n >= limit {
			return errStop
		}
		n++
		fn(p)
		return nil
	}
	var err error
	if cl.s.g.Version == gosnmp.Version1 {
		err = cl.s.g.Walk(root, f)
	} else {
		err = cl.s.g.BulkWalk(root, f)
	}
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

func normOID(s string) string {
	if !strings.HasPrefix(s, ".") {
		return "." + s
	}
	return s
}

// describe turns a gosnmp error into one a user can act on, naming the agent.
func describe(addr string, what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("snmp %s: %s: %w", addr, what, err)
	case isTimeout(err):
		return &TimeoutError{Addr: addr, What: what, Err: err}
	case errors.Is(err, gosnmp.ErrWrongDigest), strings.Contains(err.Error(), "not authentic"):
		return fmt.Errorf("snmp %s: %s: wrong v3 authentication password (%w)", addr, what, err)
	case errors.Is(err, gosnmp.ErrUnknownUsername):
		return fmt.Errorf("snmp %s: %s: unknown v3 user (%w)", addr, what, err)
	case errors.Is(err, gosnmp.ErrDecryption):
		return fmt.Errorf("snmp %s: %s: wrong v3 privacy password (%w)", addr, what, err)
	}
	return fmt.Errorf("snmp %s: %s: %w", addr, what, err)
}

// TimeoutError is an agent that did not answer. With v1/v2c a wrong community looks the same: agents
// drop such requests silently.
type TimeoutError struct {
	Addr, What string
	Err        error
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("snmp %s: %s: no answer (agent down, unreachable, or wrong community/credentials): %v", e.Addr, e.What, e.Err)
}

func (e *TimeoutError) Unwrap() error { return e.Err }

// Timeout marks this as a timeout for net.Error-style checks.
func (e *TimeoutError) Timeout() bool { return true }
