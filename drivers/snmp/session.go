package snmp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/gosnmp/gosnmp"
)

// The poller's memory and socket budget does not grow with the number of devices: a fixed pool of
// sessions, each one unconnected UDP socket and one gosnmp client (with its 64 KiB receive buffer), is
// pointed at whichever device a worker is serving. Only SNMPv3 keeps per-device state (the engine id,
// boots, time and localized keys): a few hundred bytes in usmState.

// session is one worker's gosnmp client and socket. It is owned by one goroutine at a time.
type session struct {
	g     *gosnmp.GoSNMP
	conn  *peerConn
	reqID uint32 // the last request id exchange used
	rx    []byte // exchange's receive buffer, made on first use
}

// peerConn is a net.Conn over an unconnected UDP socket that talks to one peer at a time. gosnmp reads
// and writes through it as if it were connected; replies from any other address (a late answer from the
// previous device) are dropped. It deliberately does not implement net.PacketConn, so gosnmp uses
// Read/Write.
type peerConn struct {
	pc   *net.UDPConn
	peer netip.AddrPort
	// ctx is the current request's context. gosnmp checks its context only between retries, so a
	// cancelled context also pulls the socket deadline in to now: shutdown does not wait out a timeout.
	ctx  context.Context
	stop func() bool
}

func (c *peerConn) Read(b []byte) (int, error) {
	for {
		n, from, err := c.pc.ReadFromUDPAddrPort(b)
		if err != nil {
			return n, err
		}
		if from.Addr().Unmap() == c.peer.Addr().Unmap() && from.Port() == c.peer.Port() {
			return n, nil
		}
	}
}

func (c *peerConn) Write(b []byte) (int, error) { return c.pc.WriteToUDPAddrPort(b, c.peer) }

func (c *peerConn) Close() error         { return c.pc.Close() }
func (c *peerConn) LocalAddr() net.Addr  { return c.pc.LocalAddr() }
func (c *peerConn) RemoteAddr() net.Addr { return net.UDPAddrFromAddrPort(c.peer) }
func (c *peerConn) SetDeadline(t time.Time) error {
	if c.ctx != nil && c.ctx.Err() != nil {
		t = time.Now()
	}
	return c.pc.SetDeadline(t)
}
func (c *peerConn) SetReadDeadline(t time.Time) error  { return c.pc.SetReadDeadline(t) }
func (c *peerConn) SetWriteDeadline(t time.Time) error { return c.pc.SetWriteDeadline(t) }

// newSession opens one socket. gosnmp's Connect is run once against the socket's own address, only to
// initialise its private state (request ids, receive buffer); the connected socket it makes is closed
// and replaced by the shared peerConn.
func newSession() (*session, error) {
	pc, err := net.ListenUDP("udp", nil)
	if err != nil {
		return nil, fmt.Errorf("snmp: open udp socket: %w", err)
	}
	g := &gosnmp.GoSNMP{
		Target:    "127.0.0.1",
		Port:      uint16(pc.LocalAddr().(*net.UDPAddr).Port),
		Transport: "udp",
		Version:   gosnmp.Version2c,
		Community: "-",
		Timeout:   time.Second,
		MaxOids:   gosnmp.MaxOids,
	}
	if err := g.Connect(); err != nil {
		pc.Close()
		return nil, fmt.Errorf("snmp: init client: %w", err)
	}
	g.Conn.Close()
	s := &session{g: g, conn: &peerConn{pc: pc}, reqID: rand.Uint32() & 0x7fffffff}
	g.Conn = s.conn
	return s, nil
}

// pool hands out sessions; at most size exist at once.
type pool struct {
	slots chan struct{}
	mu    sync.Mutex
	idle  []*session
	all   []*session
}

func newPool(size int) *pool {
	return &pool{slots: make(chan struct{}, size)}
}

func (p *pool) get(ctx context.Context) (*session, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		s := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return s, nil
	}
	p.mu.Unlock()
	s, err := newSession()
	if err != nil {
		<-p.slots
		return nil, err
	}
	p.mu.Lock()
	p.all = append(p.all, s)
	p.mu.Unlock()
	return s, nil
}

func (p *pool) put(s *session) {
	s.g.Context = nil // drop the caller's context; it must not outlive the request
	if s.conn.stop != nil {
		s.conn.stop()
		s.conn.stop = nil
	}
	s.conn.ctx = nil
	p.mu.Lock()
	p.idle = append(p.idle, s)
	p.mu.Unlock()
	<-p.slots
}

func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.all {
		s.conn.Close()
	}
	p.all, p.idle = nil, nil
}

// usmState is what SNMPv3 remembers about one agent between requests.
type usmState struct {
	mu sync.Mutex // one request at a time per agent: the USM parameters are mutated in place
	sp *gosnmp.UsmSecurityParameters
	// contextEngineID is learned on the first exchange.
	contextEngineID string
	// engineTime is the agent's time at anchor (local monotonic clock). gosnmp sends the last engine time it
	// heard, unchanged, so after 150 s of quiet an agent answers notInTimeWindow (gosnmp#509). We advance it
	// by the time elapsed since, as RFC 3414 section 2.3 describes.
	engineBoots uint32
	engineTime  uint32
	anchor      time.Time
}

// newUSM makes the per-agent security state. gosnmp initialises the privacy salt randomly only inside
// Connect, so a throwaway client is connected once (to an unused loopback socket; nothing is sent) to
// get properly initialised parameters.
func newUSM(c *Credentials, timeout time.Duration) (*usmState, error) {
	sp := &gosnmp.UsmSecurityParameters{
		UserName:                 c.V3.User,
		AuthenticationProtocol:   c.V3.auth,
		AuthenticationPassphrase: c.V3.AuthPassword,
		PrivacyProtocol:          c.V3.priv,
		PrivacyPassphrase:        c.V3.PrivPassword,
	}
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("snmp: v3 init: %w", err)
	}
	defer pc.Close()
	g := &gosnmp.GoSNMP{
		Target:             "127.0.0.1",
		Port:               uint16(pc.LocalAddr().(*net.UDPAddr).Port),
		Transport:          "udp",
		Version:            gosnmp.Version3,
		SecurityModel:      gosnmp.UserSecurityModel,
		MsgFlags:           c.V3.flags,
		SecurityParameters: sp,
		Timeout:            timeout,
	}
	if err := g.Connect(); err != nil {
		return nil, fmt.Errorf("snmp: v3 user %q: %w", c.V3.User, err)
	}
	g.Conn.Close()
	return &usmState{sp: sp}, nil
}

// prepare points the session at one agent with one set of credentials.
func (s *session) prepare(ctx context.Context, peer netip.AddrPort, c *Credentials, timeout time.Duration, retries int, usm *usmState) {
	g := s.g
	s.conn.peer = peer
	s.conn.ctx = ctx
	s.conn.stop = context.AfterFunc(ctx, func() { s.conn.pc.SetDeadline(time.Now()) })
	g.Target = peer.Addr().String()
	g.Port = peer.Port()
	g.Context = ctx // gosnmp reads its context from this field
	g.Timeout = timeout
	g.Retries = retries
	g.ExponentialTimeout = false
	g.MaxRepetitions = 20
	g.ContextName = ""
	switch c.Version {
	case V1:
		g.Version = gosnmp.Version1
	case V3:
		g.Version = gosnmp.Version3
	default:
		g.Version = gosnmp.Version2c
	}
	if c.Version != V3 {
		g.Community = c.Community
		g.SecurityModel, g.SecurityParameters, g.MsgFlags, g.ContextEngineID = 0, nil, 0, ""
		return
	}
	g.Community = ""
	g.SecurityModel = gosnmp.UserSecurityModel
	g.MsgFlags = c.V3.flags | gosnmp.Reportable
	g.ContextName = c.V3.ContextName
	g.SecurityParameters = usm.sp
	g.ContextEngineID = usm.contextEngineID
	if usm.sp.AuthoritativeEngineID != "" && !usm.anchor.IsZero() {
		elapsed := uint32(time.Since(usm.anchor) / time.Second)
		usm.sp.AuthoritativeEngineBoots = usm.engineBoots
		usm.sp.AuthoritativeEngineTime = (usm.engineTime + elapsed) & 0x7fffffff
	}
}

// finish saves what the exchange taught about a v3 agent.
func (s *session) finish(usm *usmState) {
	if usm == nil {
		return
	}
	usm.contextEngineID = s.g.ContextEngineID
	sp := usm.sp
	if sp.AuthoritativeEngineID == "" {
		return
	}
	// Anchor on what the agent said last (gosnmp stored it from the reply).
	usm.engineBoots, usm.engineTime, usm.anchor = sp.AuthoritativeEngineBoots, sp.AuthoritativeEngineTime, time.Now()
}

// isTimeout reports whether err means the agent did not answer in time.
func isTimeout(err error) bool {
	if err == nil {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, gosnmp.ErrMaxRetriesExceeded) || errors.Is(err, context.DeadlineExceeded)
}

// rxBufSize holds the largest UDP answer.
const rxBufSize = 65535

// exchange sends one v1/v2c GET or GETBULK and waits for its answer, with the session's timeout and
// retries, as gosnmp's Get and GetBulk do — but without them: gosnmp formats a debug description of
// every packet it sends (SnmpPacket.SafeString, a large fmt.Sprintf) whether or not anyone logs it, which
// was a tenth of the daemon's CPU. Answers with another request id (late ones, or a confused agent's)
// are skipped while the deadline lasts; an undecodable one fails the request. SNMPv3 goes through gosnmp, which
// owns the USM exchange.
func (s *session) exchange(pdu gosnmp.PDUType, oids []string, maxRep uint32) (*gosnmp.SnmpPacket, error) {
	g := s.g
	if g.Version == gosnmp.Version3 {
		if pdu == gosnmp.GetBulkRequest {
			return g.GetBulk(oids, 0, maxRep)
		}
		return g.Get(oids)
	}
	vars := make([]gosnmp.SnmpPDU, len(oids))
	for i, o := range oids {
		vars[i] = gosnmp.SnmpPDU{Name: o, Type: gosnmp.Null}
	}
	s.reqID = (s.reqID + 1) & 0x7fffffff
	if s.reqID == 0 {
		s.reqID = 1
	}
	id := s.reqID
	req := &gosnmp.SnmpPacket{Version: g.Version, Community: g.Community, PDUType: pdu, RequestID: id,
		Variables: vars, MaxRepetitions: maxRep}
	out, err := req.MarshalMsg()
	if err != nil {
		return nil, fmt.Errorf("marshal: %w", err)
	}
	if s.rx == nil {
		s.rx = make([]byte, rxBufSize)
	}
	ctx := s.conn.ctx
	for try := 0; try <= g.Retries; try++ {
		if ctx != nil && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err := s.conn.SetDeadline(time.Now().Add(g.Timeout)); err != nil {
			return nil, err
		}
		if _, err := s.conn.Write(out); err != nil {
			return nil, err
		}
		for {
			n, err := s.conn.Read(s.rx)
			if err != nil {
				if isTimeout(err) {
					break // the next try
				}
				if ctx != nil && ctx.Err() != nil {
					return nil, ctx.Err()
				}
				return nil, err
			}
			resp, err := g.SnmpDecodePacket(s.rx[:n])
			if err != nil {
				// The agent (peerConn reads only its datagrams) says something that is not SNMP.
				return nil, fmt.Errorf("answer not understood: %w", err)
			}
			if resp.RequestID != id || resp.PDUType != gosnmp.GetResponse {
				continue // a late answer to an earlier request, or another request's id
			}
			return resp, nil
		}
	}
	if ctx != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, fmt.Errorf("request timeout (after %d retries): %w", g.Retries, gosnmp.ErrMaxRetriesExceeded)
}
