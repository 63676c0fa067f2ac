package mdns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
)

// group is the mDNS IPv4 multicast group and port.
var group = &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353}

// Bounds of one browse: packets read and records kept. A responder flooding the link cannot make a
// pass read or remember more than this.
const (
	maxPackets = 2048
	maxKept    = 8192
	packetSize = 9000
)

// session is one browse's sockets: a query socket on an ephemeral port, whose legacy-unicast answers
// come straight back to it (RFC 6762 §6.7), and a listener on the multicast group for responders that
// answer only by multicast. Packets of both go to one channel, read by one goroutine each.
type session struct {
	uc, mc  *net.UDPConn
	packets chan packet
	done    chan struct{}
	readers int
}

type packet struct {
	from netip.Addr
	b    []byte
}

// open makes the sockets on ifi (nil: the system's choice). The multicast listener is optional: when
// port 5353 cannot be shared (another responder holds it without SO_REUSEADDR) the browse goes on
// with unicast answers only.
func (d *Driver) open(ifi *net.Interface) (*session, error) {
	uc, err := net.ListenUDP("udp4", &net.UDPAddr{})
	if err != nil {
		return nil, fmt.Errorf("mdns: query socket: %w", err)
	}
	pc := ipv4.NewPacketConn(uc)
	if ifi != nil {
		if err := pc.SetMulticastInterface(ifi); err != nil {
			uc.Close()
			return nil, fmt.Errorf("mdns: send on %s: %w", ifi.Name, err)
		}
	}
	// Loopback on, so a responder on this host (another process, the simulator) hears the query too.
	_ = pc.SetMulticastLoopback(true)
	_ = pc.SetMulticastTTL(255) // RFC 6762 §11
	s := &session{uc: uc, packets: make(chan packet, 256), done: make(chan struct{})}
	if mc, err := net.ListenMulticastUDP("udp4", ifi, group); err == nil {
		s.mc = mc
	} else {
		d.warnOnce("multicast", "mDNS port 5353 is not shared here: only unicast answers are heard", "err", err)
	}
	for _, c := range []*net.UDPConn{s.uc, s.mc} {
		if c == nil {
			continue
		}
		s.readers++
		go s.read(c)
	}
	return s, nil
}

func (s *session) read(c *net.UDPConn) {
	defer func() { s.done <- struct{}{} }()
	for {
		buf := make([]byte, packetSize)
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // ICMP errors and the like: keep listening
		}
		select {
		case s.packets <- packet{from: from.Addr().Unmap(), b: buf[:n]}:
		default: // the browse is not keeping up: drop, never block the socket
		}
	}
}

// close closes the sockets and waits for the readers.
func (s *session) close() {
	s.uc.Close()
	if s.mc != nil {
		s.mc.Close()
	}
	for range s.readers {
		<-s.done
	}
}

// send sends one query to the multicast group.
func (s *session) send(questions []dns.Question) error {
	b, err := query(questions, false)
	if err != nil {
		return err
	}
	_, err = s.uc.WriteToUDP(b, group)
	return err
}

// cache is what a browse heard: records by owner name and type, newest last, bounded.
type cache struct {
	services map[string]bool // configured service types, "_pjlink._tcp.local."
	ptr      map[string][]string
	srv      map[string]Record
	txt      map[string][]byte
	addrs    map[string][]netip.Addr
	gone     map[string]bool // instances that said goodbye (TTL 0)
	from     map[string]netip.Addr
	kept     int
	packets  int
	garbage  int
	capped   bool
}

func newCache(services []string) *cache {
	c := &cache{services: map[string]bool{}, ptr: map[string][]string{}, srv: map[string]Record{},
		txt: map[string][]byte{}, addrs: map[string][]netip.Addr{}, gone: map[string]bool{}, from: map[string]netip.Addr{}}
	for _, s := range services {
		c.services[fqdn(s)] = true
	}
	return c
}

// fqdn turns "_pjlink._tcp" into "_pjlink._tcp.local.".
func fqdn(service string) string {
	s := strings.ToLower(strings.TrimSuffix(service, "."))
	if !strings.HasSuffix(s, ".local") {
		s += ".local"
	}
	return s + "."
}

// serviceOf returns the configured service type an instance name belongs to ("" for none): the name's
// suffix after its first unescaped label.
func (c *cache) serviceOf(instance string) string {
	for s := range c.services {
		if strings.HasSuffix(instance, "."+s) {
			return s
		}
	}
	return ""
}

// add takes one packet's records. Questions-only packets (other browsers' queries) add nothing.
func (c *cache) add(p packet) {
	c.packets++
	m, err := ParseMessage(p.b)
	if err != nil && len(m.Records) == 0 {
		c.garbage++
		return
	}
	if !m.Response {
		return
	}
	for _, r := range m.Records {
		if c.kept >= maxKept {
			c.capped = true
			return
		}
		switch r.Type {
		case dns.TypePTR:
			if !c.services[r.Name] {
				continue // another service type heard on the link
			}
			inst := strings.ToLower(r.Target)
			if r.TTL == 0 {
				c.gone[inst] = true
				continue
			}
			delete(c.gone, inst)
			if !slices.Contains(c.ptr[r.Name], r.Target) {
				c.ptr[r.Name] = append(c.ptr[r.Name], r.Target)
				c.kept++
			}
		case dns.TypeSRV:
			if c.serviceOf(r.Name) == "" {
				continue
			}
			if r.TTL == 0 {
				c.gone[r.Name] = true
				continue
			}
			c.srv[r.Name], c.from[r.Name] = r, p.from
			c.kept++
		case dns.TypeTXT:
			if c.serviceOf(r.Name) == "" || r.TTL == 0 {
				continue
			}
			c.txt[r.Name] = r.TXT
			c.kept++
		case dns.TypeA, dns.TypeAAAA:
			if r.TTL == 0 {
				continue
			}
			if !slices.Contains(c.addrs[r.Name], r.Addr) {
				c.addrs[r.Name] = append(c.addrs[r.Name], r.Addr)
				c.kept++
			}
		}
	}
}

// instance is one service instance as a browse assembled it.
type instance struct {
	Name    string // as announced, "Display 01 PJLink._pjlink._tcp.local."
	key     string // lower-case Name
	Service string // "_pjlink._tcp.local."
	Host    string // "display-01.local."
	Port    uint16
	TXT     []TXTEntry
	Addr    netip.Addr // preferred address of Host: IPv4 when it has one
}

// instances assembles what the cache holds: every instance of a configured service that has not said
// goodbye, with its SRV, TXT and address where they were heard. An instance whose SRV or address was
// not heard is returned with what is known, so the caller can ask for the rest.
func (c *cache) instances() []instance {
	var out []instance
	for _, svc := range sortedKeys(c.ptr) {
		for _, name := range c.ptr[svc] {
			key := strings.ToLower(name)
			if c.gone[key] {
				continue
			}
			in := instance{Name: name, key: key, Service: svc}
			if srv, ok := c.srv[key]; ok {
				in.Host, in.Port = srv.Target, srv.Port
				in.Addr = pickAddr(c.addrs[srv.Target])
				if !in.Addr.IsValid() && srv.Target != "" {
					// No A record heard: the address the SRV came from is the host's, as a last resort.
					in.Addr = c.from[key]
				}
			}
			if t, ok := c.txt[key]; ok {
				in.TXT = ParseTXT(t)
			}
			out = append(out, in)
		}
	}
	return out
}

// missing lists the questions that would complete the instances: SRV and TXT of an instance heard only
// by PTR, A of a host whose address was not heard.
func (c *cache) missing() []dns.Question {
	var qs []dns.Question
	for _, in := range c.instances() {
		if _, ok := c.srv[in.key]; !ok {
			qs = append(qs, dns.Question{Name: in.Name, Qtype: dns.TypeSRV, Qclass: dns.ClassINET})
		}
		if _, ok := c.txt[in.key]; !ok {
			qs = append(qs, dns.Question{Name: in.Name, Qtype: dns.TypeTXT, Qclass: dns.ClassINET})
		}
		if in.Host != "" && len(c.addrs[in.Host]) == 0 {
			qs = append(qs, dns.Question{Name: in.Host, Qtype: dns.TypeA, Qclass: dns.ClassINET})
		}
	}
	return qs
}

func pickAddr(as []netip.Addr) netip.Addr {
	for _, a := range as {
		if a.Is4() || a.Is4In6() {
			return a.Unmap()
		}
	}
	for _, a := range as {
		if !a.IsLinkLocalUnicast() {
			return a
		}
	}
	if len(as) > 0 {
		return as[0]
	}
	return netip.Addr{}
}

// browse sends questions, listens for answers until timeout (or ctx), asks once more for what the
// first answers left out, and returns what it heard. until, when set, ends the browse early once the
// cache has what the caller needs.
func (d *Driver) browse(ctx context.Context, questions []dns.Question, timeout time.Duration, until func(*cache) bool) (*cache, error) {
	ifi, err := d.iface()
	if err != nil {
		return nil, err
	}
	s, err := d.open(ifi)
	if err != nil {
		return nil, err
	}
	defer s.close()
	c := newCache(d.opts.Services)
	for _, q := range questions { // one question per message: some responders answer only the first
		if err := s.send([]dns.Question{q}); err != nil {
			return nil, fmt.Errorf("mdns: query %s on %s: %w", q.Name, d.ifaceName(), err)
		}
	}
	end := time.NewTimer(timeout)
	defer end.Stop()
	followUp := time.NewTimer(timeout / 3)
	defer followUp.Stop()
	for {
		select {
		case <-ctx.Done():
			return c, ctx.Err()
		case <-end.C:
			d.logPass(c)
			return c, nil
		case <-followUp.C:
			if qs := c.missing(); len(qs) > 0 {
				for _, q := range qs[:min(len(qs), 64)] {
					_ = s.send([]dns.Question{q})
				}
			}
		case p := <-s.packets:
			if c.packets >= maxPackets {
				c.capped = true
				continue
			}
			c.add(p)
			if until != nil && until(c) {
				d.logPass(c)
				return c, nil
			}
		}
	}
}

func (d *Driver) logPass(c *cache) {
	if c.garbage > 0 {
		d.log.Debug("packets that are not mDNS ignored", "count", c.garbage)
	}
	if c.capped {
		d.warnOnce("capped", "an mDNS browse heard more than it keeps; the rest was ignored",
			"max_packets", maxPackets, "max_records", maxKept)
	}
}

func (d *Driver) iface() (*net.Interface, error) {
	if d.opts.Interface == "" {
		return nil, nil
	}
	ifi, err := net.InterfaceByName(d.opts.Interface)
	if err != nil {
		return nil, fmt.Errorf("mdns: interface %s: %w", d.opts.Interface, err)
	}
	return ifi, nil
}

func (d *Driver) ifaceName() string {
	if d.opts.Interface == "" {
		return "the default interface"
	}
	return d.opts.Interface
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
