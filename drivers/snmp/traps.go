package snmp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/edgegw/edgegw/gateway"
)

// The trap and inform receiver (docs/traps.md). One goroutine reads the socket; for each datagram it
// checks the source (traps.allow) and the source's rate before decoding anything, so that a flood from
// one source costs a map lookup per packet and never delays another source. It then decodes with
// gosnmp's codec, checks the community or the v3 user, answers engine-id discovery and informs, drops
// retransmitted informs, finds the device by the sender's address (a v1 trap's agent address when the
// sender is not a device) and queues the event. A second goroutine hands queued events to the gateway,
// whose state store may be slow: the reader never waits for it. An inform is acknowledged only once
// its event is queued, so one that meets a full queue is sent again by the device.

// TrapOptions configure the trap and inform receiver (Options.Traps).
type TrapOptions struct {
	// Listen is the UDP address, "0.0.0.0:162".
	Listen string
	// Communities are the v1/v2c communities accepted; none refuses v1 and v2c.
	Communities []string
	// Users are the SNMPv3 users accepted (the [[discovery.snmp]] tables' v3 users).
	Users []V3Auth
	// Allow are the sources accepted; nil accepts only the addresses of known devices.
	Allow []netip.Prefix
	// RateLimit (per second) and RateBurst bound each source; zero means 10 and 50.
	RateLimit float64
	RateBurst int
	// EngineID is the receiver's SNMPv3 engine id (informs are sent to it); nil derives one.
	EngineID []byte
	// QueueSize bounds events waiting for the gateway; zero means 1024.
	QueueSize int
}

// Bounds of the receiver's memory.
const (
	maxTrapDatagram = 65535
	dedupeWindow    = 2 * time.Minute
	maxDedupe       = 8192
	maxLimiters     = 16384
	maxLogOnce      = 4096
	logOnceEvery    = time.Hour
	// timeWindow is USM's timeliness window (RFC 3414 3.2.7).
	timeWindow = 150
	// engineEpoch is where the receiver's engine boots count from: boots is the seconds from it to the
	// receiver's start, so that it grows at every restart without being stored (RFC 3414 2.2.2).
	engineEpochUnix = 1_700_000_000
)

// USM statistics OIDs (RFC 3414) sent in reports.
const (
	oidUsmStatsNotInTimeWindows = ".1.3.6.1.6.3.15.1.1.2.0"
	oidUsmStatsUnknownEngineIDs = ".1.3.6.1.6.3.15.1.1.4.0"
)

// The counters of a receiver, by name in ListenerStats.
const (
	statReceived = iota
	statAccepted
	statInformsAcked
	statDuplicates
	statRateLimited
	statRefusedSource
	statUnknownSource
	statBadCommunity
	statUnknownUser
	statBadAuth
	statNotInTimeWindow
	statEngineDiscovery
	statMalformed
	statQueueFull
	statCount
)

var statNames = [statCount]string{"received", "accepted", "informs_acknowledged", "duplicates", "rate_limited",
	"refused_source", "unknown_source", "bad_community", "unknown_user", "bad_auth", "not_in_time_window",
	"engine_discovery", "malformed", "queue_full"}

// receiver is one listening socket and what it remembers.
type receiver struct {
	opts  TrapOptions
	log   *slog.Logger
	rules *rules
	sink  gateway.EventSink
	// send writes a reply; the socket's in the daemon, a recorder in tests and the fuzz target.
	send func(b []byte, to netip.AddrPort)
	// dec decodes with the v3 users' table. Used by the reading goroutine only.
	dec    *gosnmp.GoSNMP
	engine string
	boots  uint32
	start  time.Time
	queue  chan gateway.Event
	addr   netip.AddrPort

	stats [statCount]atomic.Uint64

	// Owned by the reading goroutine.
	limit          map[netip.Addr]*bucket
	seen           map[[16]byte]time.Time
	seenQ          [][16]byte
	logged         map[logKey]time.Time
	unknownEngines uint32
	notInWindow    uint32
}

// logKey is one reason and source that was logged.
type logKey struct {
	stat int
	src  netip.Addr
}

// bucket is a token bucket of one source.
type bucket struct {
	tokens float64
	last   time.Time
}

func newReceiver(o TrapOptions, r *rules, log *slog.Logger, now time.Time) (*receiver, error) {
	if o.RateLimit <= 0 {
		o.RateLimit = defaultTrapRate
	}
	if o.RateBurst <= 0 {
		o.RateBurst = defaultTrapBurst
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 1024
	}
	if o.EngineID == nil {
		o.EngineID = defaultEngineID("")
	}
	tbl := gosnmp.NewSnmpV3SecurityParametersTable(gosnmp.NewLogger(nil))
	for _, u := range o.Users {
		if err := u.check(); err != nil {
			return nil, fmt.Errorf("snmp traps: v3 user %q: %w", u.User, err)
		}
		if u.auth == gosnmp.NoAuth {
			continue // USM without authentication is not accepted
		}
		err := tbl.Add(u.User, &gosnmp.UsmSecurityParameters{UserName: u.User,
			AuthenticationProtocol: u.auth, AuthenticationPassphrase: u.AuthPassword,
			PrivacyProtocol: u.priv, PrivacyPassphrase: u.PrivPassword})
		if err != nil {
			return nil, fmt.Errorf("snmp traps: v3 user %q: %w", u.User, err)
		}
	}
	// The empty user: engine-id discovery (RFC 3414 4), which an inform's sender does first.
	if err := tbl.Add("", &gosnmp.UsmSecurityParameters{AuthenticationProtocol: gosnmp.NoAuth, PrivacyProtocol: gosnmp.NoPriv}); err != nil {
		return nil, err
	}
	dec := &gosnmp.GoSNMP{Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel, Logger: gosnmp.NewLogger(nil)}
	dec.SetTrapSecurityParametersTable(tbl)
	boots := uint32(max(now.Unix()-engineEpochUnix, 1)) & 0x7fffffff
	return &receiver{opts: o, log: log, rules: r, dec: dec, engine: string(o.EngineID), boots: boots, start: now,
		queue: make(chan gateway.Event, o.QueueSize), limit: map[netip.Addr]*bucket{}, seen: map[[16]byte]time.Time{},
		logged: map[logKey]time.Time{}}, nil
}

// Listen receives traps and informs until ctx is cancelled: the gateway.Listener of the SNMP driver.
// Without [traps] listen it only waits for ctx, so that it can always be one of a daemon's parts.
func (d *Driver) Listen(ctx context.Context, sink gateway.EventSink) error {
	o := d.opts.Traps
	if o == nil || o.Listen == "" {
		<-ctx.Done()
		return nil
	}
	ap, err := listenAddr(o.Listen)
	if err != nil {
		return fmt.Errorf("snmp traps: listen %q %v", o.Listen, err)
	}
	r, err := newReceiver(*o, d.rules, d.log.With("part", "traps"), time.Now())
	if err != nil {
		return err
	}
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
	if err != nil {
		hint := ""
		if ap.Port() < 1024 && errors.Is(err, fs.ErrPermission) {
			hint = "; ports below 1024 need CAP_NET_BIND_SERVICE (see docs/traps.md: a systemd drop-in, or a high port and a firewall redirect)"
		}
		return fmt.Errorf("snmp traps: listen %s: %w%s", o.Listen, err, hint)
	}
	_ = conn.SetReadBuffer(4 << 20) // room for a burst while the reader is busy; the kernel may cap it
	r.sink = sink
	r.addr = conn.LocalAddr().(*net.UDPAddr).AddrPort()
	r.send = func(b []byte, to netip.AddrPort) {
		if _, err := conn.WriteToUDPAddrPort(b, to); err != nil {
			r.log.Debug("trap reply not sent", "to", to.String(), "err", err)
		}
	}
	d.recv.Store(r)
	r.log.Info("trap receiver listening", "address", r.addr.String(), "engine_id", hex.EncodeToString(o.EngineID),
		"communities", len(o.Communities), "v3_users", len(o.Users), "allow", allowText(o.Allow), "rate_limit", o.RateLimit)

	var wg sync.WaitGroup
	wg.Go(func() {
		for e := range r.queue {
			if _, err := sink.RecordEvent(ctx, e); err != nil {
				r.log.Warn("event not recorded", "device", e.DeviceID, "event", e.Name, "err", err)
			}
		}
	})
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	buf := make([]byte, maxTrapDatagram)
	errs := 0
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				break
			}
			if errs++; errs > 100 {
				close(r.queue)
				wg.Wait()
				return fmt.Errorf("snmp traps: read %s: %w", r.addr, err)
			}
			continue
		}
		errs = 0
		r.handle(buf[:n], from, time.Now())
	}
	close(r.queue)
	wg.Wait()
	return nil
}

func allowText(ps []netip.Prefix) string {
	if ps == nil {
		return "discovered devices"
	}
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return strings.Join(out, ",")
}

// TrapAddr is the address the trap receiver listens on, once it does.
func (d *Driver) TrapAddr() (netip.AddrPort, bool) {
	r := d.recv.Load()
	if r == nil {
		return netip.AddrPort{}, false
	}
	return r.addr, true
}

// ListenerStats counts what the trap receiver received and what became of it.
func (d *Driver) ListenerStats() gateway.ListenerStats {
	st := gateway.ListenerStats{Protocol: Protocol, Counts: map[string]uint64{}}
	r := d.recv.Load()
	if r == nil {
		return st
	}
	st.Address = r.addr.String()
	st.EngineID = hex.EncodeToString([]byte(r.engine))
	for i := range r.stats {
		st.Counts[statNames[i]] = r.stats[i].Load()
	}
	return st
}

// handle is one datagram from one source. It never panics on what it is sent.
func (r *receiver) handle(data []byte, from netip.AddrPort, now time.Time) {
	r.stats[statReceived].Add(1)
	src := from.Addr().Unmap()
	from = netip.AddrPortFrom(src, from.Port())
	if r.opts.Allow != nil && !slices.ContainsFunc(r.opts.Allow, func(p netip.Prefix) bool { return p.Contains(src) }) {
		r.refuse(statRefusedSource, src, now, "trap from a source not in traps.allow dropped")
		return
	}
	if !r.allow(src, now) {
		r.refuse(statRateLimited, src, now, "traps from this source come faster than traps.rate_limit; the excess is dropped")
		return
	}
	pkt, err := r.decode(data)
	if err != nil {
		stat, what := classify(err)
		r.refuse(stat, src, now, what, "err", err)
		return
	}
	var sp *gosnmp.UsmSecurityParameters
	switch pkt.Version {
	case gosnmp.Version1, gosnmp.Version2c:
		if !r.communityOK(pkt.Community) {
			r.refuse(statBadCommunity, src, now, "trap with a wrong community dropped (the community is in traps.community or the [[discovery.snmp]] tables)")
			return
		}
	case gosnmp.Version3:
		sp, _ = pkt.SecurityParameters.(*gosnmp.UsmSecurityParameters)
		if sp == nil {
			r.refuse(statMalformed, src, now, "v3 message without USM parameters dropped")
			return
		}
		if pkt.PDUType == gosnmp.GetRequest && len(pkt.Variables) == 0 && sp.UserName == "" && pkt.MsgFlags&gosnmp.AuthNoPriv == 0 {
			r.stats[statEngineDiscovery].Add(1)
			r.unknownEngines++
			r.report(pkt, nil, oidUsmStatsUnknownEngineIDs, r.unknownEngines, from, now)
			return
		}
		if pkt.MsgFlags&gosnmp.AuthNoPriv == 0 {
			r.refuse(statBadAuth, src, now, "v3 trap without authentication dropped: the receiver accepts authNoPriv and authPriv users only")
			return
		}
		if sp.PrivacyProtocol > gosnmp.NoPriv && pkt.MsgFlags&gosnmp.AuthPriv != gosnmp.AuthPriv {
			r.refuse(statBadAuth, src, now, "v3 trap without privacy from a user that has a privacy password dropped", "user", sp.UserName)
			return
		}
		if pkt.PDUType == gosnmp.InformRequest {
			// The receiver of an inform is authoritative: the sender must use our engine id and time.
			if sp.AuthoritativeEngineID != r.engine {
				r.stats[statEngineDiscovery].Add(1)
				r.unknownEngines++
				r.report(pkt, nil, oidUsmStatsUnknownEngineIDs, r.unknownEngines, from, now)
				return
			}
			if sp.AuthoritativeEngineBoots != r.boots || absDiff(sp.AuthoritativeEngineTime, r.engineTime(now)) > timeWindow {
				r.notInWindow++
				r.stats[statNotInTimeWindow].Add(1)
				r.report(pkt, sp, oidUsmStatsNotInTimeWindows, r.notInWindow, from, now)
				return
			}
		}
	default:
		r.refuse(statMalformed, src, now, "message of an unknown SNMP version dropped")
		return
	}
	switch pkt.PDUType {
	case gosnmp.Trap, gosnmp.SNMPv2Trap, gosnmp.InformRequest:
	default:
		r.refuse(statMalformed, src, now, "SNMP message that is neither a trap nor an inform dropped", "pdu", pduName(pkt.PDUType))
		return
	}
	n, err := fromPacket(pkt)
	if err != nil {
		r.refuse(statMalformed, src, now, "malformed trap dropped", "err", err)
		return
	}
	inform := pkt.PDUType == gosnmp.InformRequest
	key := dedupeKey(pkt, sp, from, &n)
	if t, dup := r.seen[key]; dup && now.Sub(t) < dedupeWindow {
		r.stats[statDuplicates].Add(1)
		if inform {
			r.ack(pkt, sp, from, now) // the device did not hear the first acknowledgement
		}
		return
	}
	ref, ok := r.sink.DeviceAt(Protocol, from)
	if !ok && n.agent.IsValid() && n.agent != src {
		ref, ok = r.sink.DeviceAt(Protocol, netip.AddrPortFrom(n.agent, 0))
	}
	if !ok {
		r.refuse(statUnknownSource, src, now, "trap from an address no discovered device has dropped (add the device to discovery, or check traps.allow)",
			"agent_address", agentText(n.agent), "trap_oid", n.trapOID)
		if inform && r.opts.Allow != nil {
			r.ack(pkt, sp, from, now)
		}
		return
	}
	e := r.rules.event(&n, ref.Profile)
	e.DeviceID, e.Source, e.Time = ref.ID, from.String(), now
	select {
	case r.queue <- e:
	default:
		r.refuse(statQueueFull, src, now, "events come faster than the gateway stores them; trap dropped (an inform is not acknowledged, so the device sends it again)")
		return
	}
	r.remember(key, now)
	r.stats[statAccepted].Add(1)
	if inform {
		r.ack(pkt, sp, from, now)
	}
}

func agentText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// decode runs gosnmp's decoder, turning a panic on hostile input into an error.
func (r *receiver) decode(data []byte) (pkt *gosnmp.SnmpPacket, err error) {
	defer func() {
		if p := recover(); p != nil {
			pkt, err = nil, fmt.Errorf("decoder panic: %v", p)
		}
	}()
	if len(data) == 0 {
		return nil, errors.New("empty datagram")
	}
	return r.dec.UnmarshalTrap(slices.Clone(data), false)
}

// classify sorts a decoding error into a counter and a message for the log.
func classify(err error) (int, string) {
	s := err.Error()
	switch {
	case strings.Contains(s, "no security parameters found for the key"), strings.Contains(s, "unknown user name"):
		return statUnknownUser, "v3 trap from an unknown user dropped (v3 users are those of the [[discovery.snmp]] tables)"
	case strings.Contains(s, "not authentic"), strings.Contains(s, "decrypt"), strings.Contains(s, "not authenticated"),
		strings.Contains(s, "msgAuthenticationParameters length"), strings.Contains(s, "parameters are not configured"):
		return statBadAuth, "v3 trap that fails authentication or decryption dropped (wrong password or protocol?)"
	}
	return statMalformed, "malformed SNMP datagram dropped"
}

// communityOK compares in constant time with every accepted community.
func (r *receiver) communityOK(c string) bool {
	ok := 0
	for _, want := range r.opts.Communities {
		ok |= subtle.ConstantTimeCompare([]byte(c), []byte(want))
	}
	return ok == 1
}

// allow takes one token of src's bucket.
func (r *receiver) allow(src netip.Addr, now time.Time) bool {
	b := r.limit[src]
	if b == nil {
		if len(r.limit) >= maxLimiters {
			for a, x := range r.limit { // forget the sources that are back to a full bucket
				if x.tokens+now.Sub(x.last).Seconds()*r.opts.RateLimit >= float64(r.opts.RateBurst) {
					delete(r.limit, a)
				}
			}
			if len(r.limit) >= maxLimiters {
				return false
			}
		}
		b = &bucket{tokens: float64(r.opts.RateBurst), last: now}
		r.limit[src] = b
	}
	b.tokens = min(float64(r.opts.RateBurst), b.tokens+now.Sub(b.last).Seconds()*r.opts.RateLimit)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// refuse counts a dropped datagram and logs it once per source and reason an hour.
func (r *receiver) refuse(stat int, src netip.Addr, now time.Time, msg string, args ...any) {
	r.stats[stat].Add(1)
	key := logKey{stat, src}
	if t, ok := r.logged[key]; ok && now.Sub(t) < logOnceEvery {
		return
	}
	if len(r.logged) >= maxLogOnce {
		for k, t := range r.logged {
			if now.Sub(t) >= logOnceEvery {
				delete(r.logged, k)
			}
		}
		if len(r.logged) >= maxLogOnce {
			return
		}
	}
	r.logged[key] = now
	lvl := slog.LevelWarn
	if stat == statUnknownSource || stat == statMalformed {
		lvl = slog.LevelInfo
	}
	r.log.Log(context.Background(), lvl, msg, append([]any{"source", src.String(), "reason", statNames[stat],
		"note", "logged once an hour per source; edgegw events --stats counts them all"}, args...)...)
}

// remember marks a notification as seen, forgetting the oldest beyond maxDedupe.
func (r *receiver) remember(key [16]byte, now time.Time) {
	if _, ok := r.seen[key]; !ok {
		r.seenQ = append(r.seenQ, key)
	}
	r.seen[key] = now
	for len(r.seenQ) > maxDedupe || len(r.seenQ) > 0 && now.Sub(r.seen[r.seenQ[0]]) > dedupeWindow {
		delete(r.seen, r.seenQ[0])
		r.seenQ = r.seenQ[1:]
	}
}

// dedupeKey identifies a notification across retransmissions: an inform sent again carries the same
// request id and varbinds from the same sender (with v3 a new salt and engine time, which are left out).
func dedupeKey(p *gosnmp.SnmpPacket, sp *gosnmp.UsmSecurityParameters, from netip.AddrPort, n *notification) [16]byte {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%d|%d|%d|%s", from, p.Version, p.PDUType, p.RequestID, n.trapOID)
	if sp != nil {
		fmt.Fprintf(h, "|%x|%s|%x", sp.AuthoritativeEngineID, sp.UserName, p.ContextEngineID)
	} else {
		h.Write([]byte("|" + p.Community))
	}
	for _, v := range n.varbinds {
		fmt.Fprintf(h, "|%s=%s:%s", v.OID, v.Type, v.Value)
	}
	fmt.Fprintf(h, "|%s|%d|%d", p.AgentAddress, p.Timestamp, p.SpecificTrap)
	var k [16]byte
	copy(k[:], h.Sum(nil))
	return k
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

// engineTime is the receiver's snmpEngineTime: seconds since it started.
func (r *receiver) engineTime(now time.Time) uint32 {
	return uint32(now.Sub(r.start)/time.Second) & 0x7fffffff
}

// report answers a v3 message with a Report of one USM counter: unauthenticated for engine-id
// discovery (sp nil), authenticated with the user's keys for notInTimeWindow (RFC 3414 3.2.7a).
func (r *receiver) report(p *gosnmp.SnmpPacket, sp *gosnmp.UsmSecurityParameters, oid string, count uint32, to netip.AddrPort, now time.Time) {
	rsp := &gosnmp.UsmSecurityParameters{AuthenticationProtocol: gosnmp.NoAuth, PrivacyProtocol: gosnmp.NoPriv}
	flags := gosnmp.NoAuthNoPriv
	if sp != nil {
		rsp = sp.Copy().(*gosnmp.UsmSecurityParameters)
		rsp.PrivacyProtocol, rsp.PrivacyParameters = gosnmp.NoPriv, nil
		flags = gosnmp.AuthNoPriv
	} else if in, ok := p.SecurityParameters.(*gosnmp.UsmSecurityParameters); ok {
		rsp.UserName = in.UserName
	}
	rsp.AuthoritativeEngineID, rsp.AuthoritativeEngineBoots, rsp.AuthoritativeEngineTime = r.engine, r.boots, r.engineTime(now)
	out := &gosnmp.SnmpPacket{Version: gosnmp.Version3, MsgFlags: flags, SecurityModel: gosnmp.UserSecurityModel,
		SecurityParameters: rsp, MsgID: p.MsgID, MsgMaxSize: maxTrapDatagram, ContextEngineID: r.engine, ContextName: p.ContextName,
		PDUType: gosnmp.Report, RequestID: p.RequestID,
		Variables: []gosnmp.SnmpPDU{{Name: oid, Type: gosnmp.Counter32, Value: uint(count)}}}
	r.reply(out, to)
}

// ack answers an inform: the same request id and varbinds in a Response; for v3 with the receiver's
// engine time and a fresh salt.
func (r *receiver) ack(p *gosnmp.SnmpPacket, sp *gosnmp.UsmSecurityParameters, to netip.AddrPort, now time.Time) {
	out := &gosnmp.SnmpPacket{Version: p.Version, Community: p.Community, PDUType: gosnmp.GetResponse,
		RequestID: p.RequestID, Variables: p.Variables}
	if p.Version == gosnmp.Version3 && sp != nil {
		rsp := sp.Copy().(*gosnmp.UsmSecurityParameters)
		rsp.AuthoritativeEngineBoots, rsp.AuthoritativeEngineTime = r.boots, r.engineTime(now)
		if p.MsgFlags&gosnmp.AuthPriv == gosnmp.AuthPriv {
			salt := make([]byte, 8)
			rand.Read(salt)
			if rsp.PrivacyProtocol == gosnmp.DES {
				binary.BigEndian.PutUint32(salt, r.boots)
			}
			rsp.PrivacyParameters = salt
		}
		out.MsgFlags = p.MsgFlags &^ gosnmp.Reportable
		out.SecurityModel = gosnmp.UserSecurityModel
		out.SecurityParameters = rsp
		out.MsgID, out.MsgMaxSize = p.MsgID, maxTrapDatagram
		out.ContextEngineID, out.ContextName = p.ContextEngineID, p.ContextName
	}
	if r.reply(out, to) {
		r.stats[statInformsAcked].Add(1)
	}
}

// reply encodes and sends a packet.
func (r *receiver) reply(p *gosnmp.SnmpPacket, to netip.AddrPort) (sent bool) {
	defer func() {
		if e := recover(); e != nil {
			r.log.Debug("trap reply not encoded", "to", to.String(), "panic", e)
			sent = false
		}
	}()
	b, err := p.MarshalMsg()
	if err != nil {
		r.log.Debug("trap reply not encoded", "to", to.String(), "err", err)
		return false
	}
	if r.send != nil {
		r.send(b, to)
	}
	return true
}
