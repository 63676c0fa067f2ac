package snmp

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/edgegw/edgegw/gateway"
)

// A sweep of a prefix does not give each address a worker: most addresses of a /16 have nobody behind
// them, and a worker waiting out each one's timeout made a sweep cost (addresses × timeout ÷ workers).
// Instead one goroutine sends a small probe to every address from a few sockets, paced at a rate cap,
// and remembers each probe by address; readers match the answers as they come. A silent address
// costs its timeout once, on a heap of deadlines, holding nothing but a few dozen bytes. Only addresses
// that answered go on to the workers for the full identity read (with the group's retries). A probe is
// sent once per pass, not retried: a probe lost on the way hides its device until the next discovery
// pass, and retrying every silent address would double a /16 sweep (most of it silent).

// DefaultProbeRate is the probes per second a sweep sends when Options.ProbeRate is zero: a /16 in
// about 16 s, and about 2 Mbit/s of probes on the wire, which no site network notices.
const DefaultProbeRate = 4000

// probeSockets is how many sockets a sweep sends from: a few, so one socket's receive buffer is not
// the only place a burst of answers can wait.
const probeSockets = 4

// probeBurst is the fewest probes the pacer may send at once to catch up after oversleeping; at high
// rates it allows probeCatchUp's worth, since a busy machine wakes a sleeper milliseconds late.
const (
	probeBurst   = 16
	probeCatchUp = 50 * time.Millisecond
)

// oidProbe is what a v1/v2c probe asks for: every agent has sysObjectID.0.
const oidProbe = oidSysObjectID

// sweepProbe is one address being swept.
type sweepProbe struct {
	addr     netip.AddrPort
	g        *Group
	id       uint32 // the request id the probe carries
	deadline time.Time
	answered bool // guarded by sweep.mu
	idx      int  // position in the deadline heap
}

// SweepStats counts what a discovery pass found. Silent addresses inside a prefix are not errors.
type SweepStats struct {
	Probed, Found, Silent, Failed int
	Elapsed                       time.Duration
}

// sweep is one pass's probing of every prefix target.
type sweep struct {
	conns []*net.UDPConn
	// answered receives each probe that got an answer (or any datagram from its address), for identity.
	answered func(*sweepProbe)
	// silent is called for each probe whose deadline passed without an answer.
	silent func(*sweepProbe)

	mu      sync.Mutex
	byAddr  map[netip.AddrPort]*sweepProbe
	pending deadlines
	nextID  uint32 // gives each probe its own request id
	stray   int    // datagrams from addresses not being probed, or too late
	readers sync.WaitGroup
}

func newSweep() (*sweep, error) {
	s := &sweep{byAddr: map[netip.AddrPort]*sweepProbe{}, nextID: rand.Uint32N(1 << 30)}
	for range probeSockets {
		pc, err := net.ListenUDP("udp", nil)
		if err != nil {
			s.closeConns()
			return nil, fmt.Errorf("snmp: open a sweep socket: %w", err)
		}
		_ = pc.SetReadBuffer(1 << 20)
		s.conns = append(s.conns, pc)
	}
	return s, nil
}

func (s *sweep) closeConns() {
	for _, c := range s.conns {
		c.Close()
	}
}

// start runs one reader per socket until the sockets are closed.
func (s *sweep) start() {
	for _, c := range s.conns {
		s.readers.Go(func() { s.read(c) })
	}
}

func (s *sweep) read(c *net.UDPConn) {
	buf := make([]byte, 2048) // only the sender is looked at; a longer answer is cut, which is fine
	for {
		_, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		s.match(netip.AddrPortFrom(from.Addr().Unmap(), from.Port()))
	}
}

// match pairs one datagram with its probe by the address it came from: an address has one probe at a
// time. Any datagram from a probed address, even one that is not a good answer (garbage, another
// request's id), shows someone is there: the identity read will say what is wrong with it. Anything
// else is dropped.
func (s *sweep) match(from netip.AddrPort) {
	s.mu.Lock()
	p := s.byAddr[from]
	if p == nil {
		s.stray++
		s.mu.Unlock()
		return
	}
	p.answered = true
	delete(s.byAddr, p.addr)
	if p.idx >= 0 { // its deadline no longer matters: drain need not wait for it
		heap.Remove(&s.pending, p.idx)
	}
	s.mu.Unlock()
	s.answered(p)
}

// send probes addr, pacing with pc. It returns an error for a packet that could not be sent,
// errDuplicate for an address already probed, and the context's error when it ended while pacing.
func (s *sweep) send(g *Group, addr netip.AddrPort, pc *pacer) error {
	if !pc.wait(s.expire) {
		return pc.ctx.Err()
	}
	s.mu.Lock()
	s.nextID = (s.nextID + 1) & 0x7fffffff
	if s.nextID == 0 {
		s.nextID = 1
	}
	p := &sweepProbe{addr: addr, g: g, id: s.nextID, deadline: time.Now().Add(g.Timeout)}
	if old := s.byAddr[addr]; old != nil { // listed twice: the first probe stands
		s.mu.Unlock()
		return errDuplicate
	}
	s.byAddr[addr] = p
	heap.Push(&s.pending, p)
	s.mu.Unlock()
	pkt, err := probePacket(g, p.id)
	if err == nil {
		_, err = s.conns[int(p.id)%len(s.conns)].WriteToUDPAddrPort(pkt, addr)
	}
	if err != nil {
		// Nothing will answer a probe that was not sent: let it expire now, as silent.
		s.mu.Lock()
		if p.idx >= 0 {
			p.deadline = time.Time{}
			heap.Fix(&s.pending, p.idx)
		}
		s.mu.Unlock()
	}
	return err
}

var errDuplicate = errors.New("address listed twice")

// expire ends every probe whose deadline has passed; it returns when the next one is due (zero when
// none is pending).
func (s *sweep) expire(now time.Time) time.Time {
	var gone []*sweepProbe
	s.mu.Lock()
	for len(s.pending) > 0 && !s.pending[0].deadline.After(now) {
		p := heap.Pop(&s.pending).(*sweepProbe) // answered ones left the heap in match
		delete(s.byAddr, p.addr)
		gone = append(gone, p)
	}
	next := time.Time{}
	if len(s.pending) > 0 {
		next = s.pending[0].deadline
	}
	s.mu.Unlock()
	for _, p := range gone {
		s.silent(p)
	}
	return next
}

// drain waits until every probe is answered or expired, or ctx ends.
func (s *sweep) drain(ctx context.Context) {
	for {
		next := s.expire(time.Now())
		if next.IsZero() {
			return
		}
		t := time.NewTimer(max(time.Until(next), time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// stop closes the sockets and waits for the readers.
func (s *sweep) stop() {
	s.closeConns()
	s.readers.Wait()
}

// probePacket is the probe for one address: a GET of sysObjectID.0 with the group's community, or for
// SNMPv3 an engine-discovery request (no user, reportable), which every v3 agent answers with a Report
// carrying the message id. Neither needs a secret to be answered, and a v3 probe carries none.
func probePacket(g *Group, id uint32) ([]byte, error) {
	switch g.Version {
	case V3:
		p := &gosnmp.SnmpPacket{Version: gosnmp.Version3, MsgFlags: gosnmp.Reportable | gosnmp.NoAuthNoPriv,
			SecurityModel: gosnmp.UserSecurityModel, PDUType: gosnmp.GetRequest, MsgID: id, RequestID: id,
			MsgMaxSize: 1400, Logger: nolog, SecurityParameters: &gosnmp.UsmSecurityParameters{Logger: nolog}}
		return p.MarshalMsg()
	case V1:
		return (&gosnmp.SnmpPacket{Version: gosnmp.Version1, Community: g.Community, PDUType: gosnmp.GetRequest,
			RequestID: id, Variables: []gosnmp.SnmpPDU{{Name: oidProbe, Type: gosnmp.Null}}}).MarshalMsg()
	default:
		return (&gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: g.Community, PDUType: gosnmp.GetRequest,
			RequestID: id, Variables: []gosnmp.SnmpPDU{{Name: oidProbe, Type: gosnmp.Null}}}).MarshalMsg()
	}
}

var nolog = gosnmp.NewLogger(nil)

// deadlines is a min-heap of probes by deadline.
type deadlines []*sweepProbe

func (h deadlines) Len() int           { return len(h) }
func (h deadlines) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h deadlines) Swap(i, j int)      { h[i], h[j] = h[j], h[i]; h[i].idx = i; h[j].idx = j }
func (h *deadlines) Push(x any)        { p := x.(*sweepProbe); p.idx = len(*h); *h = append(*h, p) }
func (h *deadlines) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	p.idx = -1
	return p
}

// pacer spaces packets at rate per second, letting up to burst go at once to catch up after a late
// wake-up, so the average never exceeds the rate and the peak stays small.
type pacer struct {
	interval time.Duration
	burst    int
	next     time.Time
	now      func() time.Time
	sleep    func(context.Context, time.Duration) bool
	ctx      context.Context
}

func newPacer(ctx context.Context, rate int) *pacer {
	burst := max(probeBurst, int(time.Duration(rate)*probeCatchUp/time.Second))
	return &pacer{interval: time.Second / time.Duration(rate), burst: burst, now: time.Now, sleep: sleepCtx, ctx: ctx}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// wait blocks until the next packet may go, calling expire (with the time) while it waits so that
// deadlines are handled between sends. It returns false when the context ended.
func (p *pacer) wait(expire func(time.Time) time.Time) bool {
	if p.ctx.Err() != nil {
		return false
	}
	now := p.now()
	if floor := now.Add(-time.Duration(p.burst) * p.interval); p.next.Before(floor) {
		p.next = floor
	}
	// Sleeping for less than a millisecond mostly measures the scheduler: wait until a few are due.
	for p.next.Sub(now) > time.Millisecond {
		if expire != nil {
			expire(now)
		}
		if !p.sleep(p.ctx, p.next.Sub(now)) {
			return false
		}
		now = p.now()
	}
	p.next = p.next.Add(p.interval)
	return true
}

// sweepJob is a target's share of one pass: its addresses, up to limit.
type sweepJob struct {
	g     *Group
	t     Target
	limit int
}

// runSweep probes every address of jobs and hands the ones that answered to identify; silent ones go
// to silent, and skipped is called for each address not probed (listed twice, or not an address). It
// returns when every probe is settled or ctx ends.
func (d *Driver) runSweep(ctx context.Context, jobs []sweepJob, identify func(*sweepProbe), silent func(*sweepProbe), skipped func(), failed func(gateway.TargetError)) error {
	s, err := newSweep()
	if err != nil {
		return err
	}
	s.answered, s.silent = identify, silent
	s.start()
	defer s.stop()
	pc := newPacer(ctx, d.opts.ProbeRate)
	for _, j := range jobs {
		var sendErr error
		n := 0
		err := j.t.Each(func(a string) bool {
			if n >= j.limit || ctx.Err() != nil {
				return false
			}
			n++
			ap, err := netip.ParseAddrPort(a)
			if err != nil {
				skipped()
				return true
			}
			switch err := s.send(j.g, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), pc); {
			case errors.Is(err, errDuplicate):
				skipped()
			case err != nil && ctx.Err() != nil:
				return false
			case err != nil && sendErr == nil:
				sendErr = err
			}
			return true
		})
		if err == nil && sendErr != nil {
			err = fmt.Errorf("send probes: %w", sendErr) // one error per target, not one per address
		}
		if err != nil {
			failed(gateway.TargetError{Protocol: Protocol, Address: j.t.String(), Err: fmt.Errorf("snmp: %w", err)})
		}
	}
	s.drain(ctx)
	s.mu.Lock()
	stray := s.stray
	s.mu.Unlock()
	if stray > 0 {
		d.log.Debug("sweep dropped datagrams that answered no probe", "count", stray)
	}
	return nil
}
