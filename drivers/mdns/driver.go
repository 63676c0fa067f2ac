// Package mdns is edgegw's mDNS / DNS-SD driver: it browses the configured service types, assembles
// instances (PTR, SRV, TXT, A/AAAA) into one sighting per host, reads identity from TXT keys the
// profiles name, and polls TXT points by asking the host's instances again.
//
// It keeps miekg/dns (hashicorp/mdns's parser) for names and queries and writes what hashicorp/mdns's
// client gets wrong against real responders: see docs/mdns.md.
package mdns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/miekg/dns"

	"github.com/edgegw/edgegw/gateway"
)

// Protocol is the name of this driver's protocol in sightings and endpoints.
const Protocol = "mdns"

// Credential is the reference stored in sightings: the configuration's one [discovery.mdns] table.
const Credential = "discovery.mdns"

// Options configure a Driver. The zero value of each field is documented.
type Options struct {
	// Services are service types, "_pjlink._tcp" (or "_pjlink._tcp.local.").
	Services []string
	// Interface to query and listen on; empty lets the system choose.
	Interface string
	// Timeout is how long one browse listens; zero means 2 s.
	Timeout time.Duration
	// Profiles is the profile library: each host gets the mDNS profile of a service type it
	// announces; nil means identity from common TXT keys only.
	Profiles gateway.Profiles
	// Neighbors finds a host's MAC when its TXT records say none; nil means no lookup.
	Neighbors func(ip netip.Addr) (mac string, ok bool)
	Logger    *slog.Logger
}

// Driver browses and polls mDNS responders. It is safe for concurrent use.
type Driver struct {
	opts Options
	log  *slog.Logger

	mu    sync.Mutex
	hosts map[netip.Addr][]instance // the last browse's instances, by host address
	warn  map[string]bool
}

var (
	_ gateway.Discoverer = (*Driver)(nil)
	_ gateway.Poller     = (*Driver)(nil)
)

// New checks the options and makes a driver. It opens no socket until the first browse.
func New(opts Options) (*Driver, error) {
	if len(opts.Services) == 0 {
		return nil, errors.New("mdns: no service types to browse")
	}
	for i, s := range opts.Services {
		f := fqdn(s)
		if _, ok := dns.IsDomainName(f); !ok || !strings.HasPrefix(f, "_") {
			return nil, fmt.Errorf("mdns: %q is not a service type like _pjlink._tcp", s)
		}
		opts.Services[i] = f
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Driver{opts: opts, log: log.With("driver", Protocol), hosts: map[netip.Addr][]instance{}, warn: map[string]bool{}}, nil
}

// Close releases nothing: sockets live only as long as one browse. It exists for symmetry.
func (d *Driver) Close() error { return nil }

func (d *Driver) warnOnce(key, msg string, args ...any) {
	d.mu.Lock()
	seen := d.warn[key]
	d.warn[key] = true
	d.mu.Unlock()
	if !seen {
		d.log.Warn(msg, args...)
	}
}

func (d *Driver) ptrQuestions() []dns.Question {
	qs := make([]dns.Question, len(d.opts.Services))
	for i, s := range d.opts.Services {
		qs[i] = dns.Question{Name: s, Qtype: dns.TypePTR, Qclass: dns.ClassINET}
	}
	return qs
}

// Discover browses every configured service type once and reports one sighting per host. A browse
// that cannot start (no such interface) is the error; silence is not: nobody announced anything.
func (d *Driver) Discover(ctx context.Context, found func(gateway.Sighting), failed func(gateway.TargetError)) error {
	c, err := d.browse(ctx, d.ptrQuestions(), d.opts.Timeout, nil)
	if err != nil {
		if ctx.Err() == nil {
			failed(gateway.TargetError{Protocol: Protocol, Address: d.ifaceName(), Err: err})
		}
		return ctx.Err()
	}
	byHost := map[netip.Addr][]instance{}
	for _, in := range c.instances() {
		if !in.Addr.IsValid() {
			d.log.Debug("instance without an address", "instance", in.Name, "host", in.Host)
			continue
		}
		byHost[in.Addr] = append(byHost[in.Addr], in)
	}
	d.mu.Lock()
	d.hosts = byHost
	d.mu.Unlock()
	addrs := make([]netip.Addr, 0, len(byHost))
	for a := range byHost {
		addrs = append(addrs, a)
	}
	sort.Slice(addrs, func(i, j int) bool { return addrs[i].Less(addrs[j]) })
	var noMAC []netip.Addr
	sightings := make([]gateway.Sighting, 0, len(addrs))
	for _, a := range addrs {
		s := d.sighting(a, byHost[a])
		if s.Identity.MAC == "" {
			noMAC = append(noMAC, a)
		}
		sightings = append(sightings, s)
	}
	if len(noMAC) > 0 && d.opts.Neighbors != nil {
		d.resolveMACs(ctx, noMAC, sightings)
	}
	for _, s := range sightings {
		found(s)
	}
	return ctx.Err()
}

// resolveMACs fills MACs from the neighbour table. A multicast answer leaves no neighbour entry, so
// each host first gets one unicast query on port 5353 (RFC 6762 §5.5): it answered us already, on
// the link we browse.
func (d *Driver) resolveMACs(ctx context.Context, hosts []netip.Addr, sightings []gateway.Sighting) {
	if c, err := net.ListenUDP("udp", nil); err == nil {
		b, _ := query([]dns.Question{{Name: d.opts.Services[0], Qtype: dns.TypePTR, Qclass: dns.ClassINET}}, false)
		for _, a := range hosts {
			if _, ok := d.opts.Neighbors(a); !ok {
				c.WriteToUDPAddrPort(b, netip.AddrPortFrom(a, 5353))
			}
		}
		c.Close()
		t := time.NewTimer(100 * time.Millisecond) // ARP takes a round trip
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	for i := range sightings {
		if sightings[i].Identity.MAC != "" {
			continue
		}
		if a, err := netip.ParseAddr(sightings[i].Address); err == nil {
			if mac, ok := d.opts.Neighbors(a); ok {
				sightings[i].Identity.MAC = mac
			}
		}
	}
}

// sighting makes one host's sighting from its instances, in the configured order of their services.
func (d *Driver) sighting(addr netip.Addr, ins []instance) gateway.Sighting {
	d.order(ins)
	s := gateway.Sighting{Protocol: Protocol, Address: addr.String(), Credential: Credential, Seen: time.Now()}
	s.Identity.IP = addr.String()
	for _, in := range ins {
		if in.Host != "" {
			s.Identity.Hostname = strings.TrimSuffix(strings.TrimSuffix(in.Host, "."), ".local")
			break
		}
	}
	var p *gateway.Profile
	for _, in := range ins {
		if p = matchService(d.opts.Profiles, in.Service); p != nil {
			s.Profile = p.Name
			break
		}
	}
	txt := mergedTXT(ins)
	id := &s.Identity
	fields := map[string]*string{"serial": &id.Serial, "model": &id.Model, "manufacturer": &id.Manufacturer,
		"firmware": &id.Firmware, "hardware": &id.Hardware, "mac": &id.MAC}
	for field, keys := range identityKeys(p) {
		for _, k := range keys {
			v, ok := txtText(txt, k)
			if ok && field == "mac" {
				v = normMAC(v)
			}
			if ok && v != "" {
				*fields[field] = v
				break
			}
		}
	}
	if id.Manufacturer == "" && p != nil {
		id.Manufacturer = p.Manufacturer
	}
	return s
}

// order sorts a host's instances by the position of their service in the configuration, then name.
func (d *Driver) order(ins []instance) {
	rank := func(s string) int { return slices.Index(d.opts.Services, s) }
	sort.SliceStable(ins, func(i, j int) bool {
		if ri, rj := rank(ins[i].Service), rank(ins[j].Service); ri != rj {
			return ri < rj
		}
		return ins[i].key < ins[j].key
	})
}

// commonKeys are TXT keys devices commonly use for identity, tried after the profile's own. Not every
// "vers" is a firmware (Brother's is the eSCL version), so firmware takes only unambiguous keys.
var commonKeys = map[string][]string{
	"serial":       {"serial", "sn", "serialnumber", "serial_number"},
	"model":        {"model", "md", "usb_mdl", "ty", "product"},
	"manufacturer": {"manufacturer", "vendor", "mfg", "usb_mfg"},
	"firmware":     {"firmware", "fw", "fwversion", "fw_version"},
	"mac":          {"mac", "macaddress", "mac_address", "deviceid"},
}

// identityKeys are the TXT keys to try per identity field: the profile's, then the common ones.
func identityKeys(p *gateway.Profile) map[string][]string {
	out := map[string][]string{}
	for _, f := range gateway.IdentityFields {
		var keys []string
		if p != nil {
			id, _ := p.Identity.(Identity)
			keys = append(keys, id[f]...)
		}
		for _, k := range commonKeys[f] {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
		out[f] = keys
	}
	return out
}

// mergedTXT is a host's TXT entries over all its instances, the first instance's entry of a key winning.
func mergedTXT(ins []instance) []TXTEntry {
	var out []TXTEntry
	seen := map[string]bool{}
	for _, in := range ins {
		for _, e := range in.TXT {
			if !seen[e.Key] {
				seen[e.Key] = true
				out = append(out, e)
			}
		}
	}
	return out
}

// txtText returns a key's value as text; ok is false when the key is absent or its value is not UTF-8
// text. A key present without a value reads as "" (ok).
func txtText(txt []TXTEntry, key string) (string, bool) {
	key = strings.ToLower(key)
	for _, e := range txt {
		if e.Key == key {
			if !utf8.Valid(e.Value) {
				return "", false
			}
			return strings.TrimSpace(string(e.Value)), true
		}
	}
	return "", false
}

// normMAC reads a MAC as TXT records write it ("48:0f:cf:c9:16:7e", "1C:B3:C9:0F:49:FD", "480fcfc9167e");
// "" for anything else or a placeholder (Apple's btaddr=00:00:00:00:00:00, broadcast, multicast).
func normMAC(s string) string {
	s = strings.TrimSpace(s)
	if len(s) == 12 {
		s = s[0:2] + ":" + s[2:4] + ":" + s[4:6] + ":" + s[6:8] + ":" + s[8:10] + ":" + s[10:12]
	}
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 || hw[0]&1 == 1 || !slices.ContainsFunc(hw, func(b byte) bool { return b != 0 }) {
		return ""
	}
	return hw.String()
}

// Poll asks the host's instances (as the last browse found them) for their TXT records again and reads
// the points' TXT keys from the answers. A host whose instances do not answer within the timeout is a
// missed poll; a key the device no longer sends is that reading's error.
func (d *Driver) Poll(ctx context.Context, ep gateway.Endpoint, points []gateway.Point) ([]gateway.Reading, error) {
	addr, err := netip.ParseAddr(ep.Address)
	if err != nil {
		return nil, fmt.Errorf("mdns: %q is not a host address", ep.Address)
	}
	d.mu.Lock()
	ins := slices.Clone(d.hosts[addr])
	d.mu.Unlock()
	if len(ins) == 0 {
		// No browse since the start (twins restored from the state store): browse first.
		if err := d.Discover(ctx, func(gateway.Sighting) {}, func(gateway.TargetError) {}); err != nil {
			return nil, err
		}
		d.mu.Lock()
		ins = slices.Clone(d.hosts[addr])
		d.mu.Unlock()
		if len(ins) == 0 {
			return nil, fmt.Errorf("mdns %s: no instance of %s announced", ep.Address, strings.Join(d.opts.Services, ", "))
		}
	}
	d.order(ins)
	qs := make([]dns.Question, len(ins))
	for i, in := range ins {
		qs[i] = dns.Question{Name: in.Name, Qtype: dns.TypeTXT, Qclass: dns.ClassINET}
	}
	c, err := d.browse(ctx, qs, d.opts.Timeout, func(c *cache) bool {
		for _, in := range ins {
			if _, ok := c.txt[in.key]; !ok {
				return false
			}
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	var answered []instance
	for _, in := range ins {
		if t, ok := c.txt[in.key]; ok {
			in.TXT = ParseTXT(t)
			answered = append(answered, in)
		}
	}
	if len(answered) == 0 {
		return nil, fmt.Errorf("mdns %s: no answer from %s within %s", ep.Address, quoteNames(ins), d.opts.Timeout)
	}
	txt := mergedTXT(answered)
	out := make([]gateway.Reading, 0, len(points))
	for _, p := range points {
		key := txtOf(&p)
		if key == "" {
			continue
		}
		r := gateway.Reading{Name: p.Name, Unit: p.Unit, Source: "txt:" + key}
		e, ok := entry(txt, key)
		if !ok {
			r.Err = fmt.Errorf("%s: the device no longer sends TXT key %q", p.Name, key)
		} else {
			r.Raw = strconv.Quote(string(e.Value))
			r.Value, r.Err = convert(&p, e)
			if r.Err != nil {
				r.Err = fmt.Errorf("%s (txt %s): %w", p.Name, key, r.Err)
			}
		}
		out = append(out, r)
	}
	return out, nil
}

func quoteNames(ins []instance) string {
	names := make([]string, len(ins))
	for i, in := range ins {
		names[i] = strconv.Quote(unescape(in.Name))
	}
	return strings.Join(names, ", ")
}

// unescape turns miekg/dns's escaped presentation ("Display\ 01") back into the announced name.
func unescape(name string) string {
	if !strings.Contains(name, `\`) {
		return name
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '\\' && i+1 < len(name) {
			if i+3 < len(name) && isDigit(name[i+1]) && isDigit(name[i+2]) && isDigit(name[i+3]) {
				n, _ := strconv.Atoi(name[i+1 : i+4])
				b.WriteByte(byte(n))
				i += 3
				continue
			}
			i++
			c = name[i]
		}
		b.WriteByte(c)
	}
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func entry(txt []TXTEntry, key string) (TXTEntry, bool) {
	key = strings.ToLower(key)
	for _, e := range txt {
		if e.Key == key {
			return e, true
		}
	}
	return TXTEntry{}, false
}

// ErrType is a TXT value that does not fit the point's type.
var ErrType = errors.New("unexpected value")

// convert reads a TXT value as a point's type. A key without '=' is a boolean attribute: true for a
// bool point, "" otherwise. Binary values are not text: an error, shown in hex.
func convert(p *gateway.Point, e TXTEntry) (gateway.Value, error) {
	if p.Type == gateway.TypeBool && !e.HasValue {
		return gateway.Bool(true), nil
	}
	if !utf8.Valid(e.Value) {
		return gateway.Value{}, fmt.Errorf("%w: binary value %x", ErrType, e.Value)
	}
	s := strings.TrimSpace(string(e.Value))
	switch p.Type {
	case gateway.TypeString, "":
		return gateway.String(s), nil
	case gateway.TypeMAC:
		if m := normMAC(s); m != "" {
			return gateway.String(m), nil
		}
		return gateway.Value{}, fmt.Errorf("%w: %q is not a MAC address", ErrType, s)
	case gateway.TypeIP:
		if a, err := netip.ParseAddr(s); err == nil {
			return gateway.String(a.String()), nil
		}
		return gateway.Value{}, fmt.Errorf("%w: %q is not an IP address", ErrType, s)
	case gateway.TypeBool:
		switch strings.ToLower(s) {
		case "t", "true", "1", "yes", "on", "":
			return gateway.Bool(true), nil
		case "f", "false", "0", "no", "off":
			return gateway.Bool(false), nil
		}
		return gateway.Value{}, fmt.Errorf("%w: %q is not true or false", ErrType, s)
	case gateway.TypeEnum:
		n, err := strconv.ParseInt(s, 10, 64)
		if err == nil {
			if name, ok := p.Enum[n]; ok {
				return gateway.String(name), nil
			}
		}
		for _, name := range p.Enum {
			if strings.EqualFold(name, s) {
				return gateway.String(name), nil
			}
		}
		return gateway.String(s), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return gateway.Value{}, fmt.Errorf("%w: %q is not a number", ErrType, s)
	}
	if p.Scale != 0 {
		f *= p.Scale
	}
	return gateway.Number(f + p.Offset), nil
}
