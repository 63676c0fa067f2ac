package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// MaxDevices bounds Options.N: a campus of 50,000 devices fits; the limit only stops a typo from
// asking for millions.
const MaxDevices = 100_000

// SharedAbove is the device count above which a site on a prefix answers for every device from one
// socket (Options.Shared) instead of one socket per device: past it, per-device sockets run into the
// process's open-file limit.
const SharedAbove = 1024

// DefaultMaxResponseSize is the response size cap used when
// Options.MaxResponseSize is zero: GETBULK answers stop before it, other
// answers that would exceed it become tooBig. It keeps replies inside one
// Ethernet frame, as small embedded agents do.
const DefaultMaxResponseSize = 1400

// Options configures a simulated site. The zero value of every field is
// usable except N.
type Options struct {
	// N is the number of devices, 1..MaxDevices.
	N int
	// Listen is a loopback address ("127.0.0.1", "::1", "localhost") or a
	// loopback IPv4 prefix ("127.0.10.0/24"). Empty means 127.0.0.1. With an
	// address, device i listens on Listen:(BasePort+i); with a prefix, device i
	// listens on the i-th host address of the prefix at BasePort. Anything
	// that is not loopback is refused.
	Listen string
	// BasePort is the first port (address mode) or the port of every device
	// (prefix mode). Zero lets the OS choose a free port for each device
	// (one port for all of them when Shared); Devices reports the chosen
	// ports.
	BasePort int
	// Shared serves every device of a loopback IPv4 prefix from one UDP
	// socket: bound to the wildcard address at BasePort but tied to the
	// loopback interface (so it never hears a real network), it reads each
	// datagram's destination address (IP_PKTINFO) to know which device it is
	// for and answers from that address. Linux only. It is implied when N
	// is over SharedAbove on a prefix; false with N up to SharedAbove keeps
	// one socket per device, which cannot collide with another program's
	// socket on the same port at another loopback address.
	Shared bool
	// Community is the read-only v1/v2c community; empty means "public".
	Community string
	// RWCommunity is the read-write v1/v2c community; empty means "private".
	RWCommunity string
	// V3User enables SNMPv3 when not empty. Two USM users are served:
	// V3User (HMAC-SHA-96 auth, AES-128 priv) and V3User+"256"
	// (HMAC-192-SHA-256 auth, AES-128 priv). Both accept authNoPriv and
	// authPriv.
	V3User string
	// V3AuthPass is the authentication passphrase (at least 8 characters);
	// required when V3User is set.
	V3AuthPass string
	// V3PrivPass is the privacy passphrase (at least 8 characters). Empty
	// means the users have no privacy key and accept authNoPriv only.
	V3PrivPass string
	// Seed makes identities reproducible: MACs, serials, uptimes and
	// engine ids depend only on Seed and the device index. Zero is a valid
	// seed (the CLI defaults to 1).
	Seed int64
	// MaxResponseSize caps response datagrams; zero means
	// DefaultMaxResponseSize. A v3 request's smaller msgMaxSize wins.
	MaxResponseSize int
	// Logger receives start/stop and Debug-level drop messages; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now. Tests move it forward to age
	// sysUpTime and the v3 engine time without waiting.
	Now func() time.Time
}

// Device describes one simulated device as a gateway would learn it.
type Device struct {
	// Index is the device's position, 0..N-1.
	Index int
	// Addr is the UDP address the device answers on.
	Addr netip.AddrPort
	// MAC is the eth0 address, "02:ed:67:xx:xx:xx" (locally administered).
	MAC string
	// Serial is the chassis serial number, e.g. "SIM-DP55-000123".
	Serial string
	// Model is the short model code: "DP55", "BX4K" or "PS1500".
	Model string
	// ModelName is the marketing name, e.g. "ACME DisplayPro 55".
	ModelName string
	// Manufacturer is "ACME".
	Manufacturer string
	// Firmware is the firmware version, e.g. "4.2.1".
	Firmware string
	// Kind is "display", "projector" or "ups".
	Kind string
	// SysObjectID is the sysObjectID.0 value, with a leading dot.
	SysObjectID string
	// SysDescr is the sysDescr.0 value.
	SysDescr string
	// Hostname is the initial sysName.0, e.g. "sim-display-007".
	Hostname string
	// EngineID is the SNMPv3 authoritative engine id (RFC 3411 MAC format
	// under enterprise 99999), as hex.
	EngineID string
}

// Stats counts what a site has seen since Start.
type Stats struct {
	// Received is every datagram read.
	Received uint64
	// Answered is every datagram sent, reports and fault replies included.
	Answered uint64
	// BadCommunity counts v1/v2c requests with an unknown community; they
	// are not answered, like a real agent.
	BadCommunity uint64
	// Malformed counts datagrams that could not be decoded (not answered).
	Malformed uint64
	// Reports counts SNMPv3 Report PDUs sent (discovery, time window,
	// unknown user, wrong digest, ...).
	Reports uint64
	// Dropped counts requests dropped on purpose: Silent faults, oversized
	// datagrams, non-loopback sources, too many delayed replies.
	Dropped uint64
}

// Site is a running set of simulated devices. Its methods are safe for
// concurrent use.
type Site struct {
	log      *slog.Logger
	now      func() time.Time
	start    time.Time
	maxResp  int
	ro, rw   string
	users    []usmUser
	mibs     [len(kinds)][]entry
	devices  []*device
	shared   *sharedConn     // nil: one socket per device
	first    uint32          // the first device's IPv4 address, with shared
	ctx      context.Context // cancelled by Close; parent of delayed replies
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	once     sync.Once
	stopHook atomic.Pointer[func() bool] // unregisters the Start-context hook

	received, answered, badCommunity, malformed, reports, dropped atomic.Uint64
}

// Start binds one UDP socket per device and serves until ctx is cancelled
// or Close is called. It fails, having closed everything it opened, when an
// option is invalid or a socket cannot be bound.
func Start(ctx context.Context, opts Options) (*Site, error) {
	if opts.N < 1 || opts.N > MaxDevices {
		return nil, fmt.Errorf("sim: device count %d out of range 1..%d", opts.N, MaxDevices)
	}
	addrs, err := PlanAddrs(opts.Listen, opts.BasePort, opts.N)
	if err != nil {
		return nil, err
	}
	users, err := makeUsers(opts.V3User, opts.V3AuthPass, opts.V3PrivPass)
	if err != nil {
		return nil, err
	}
	s := &Site{
		log:     opts.Logger,
		now:     opts.Now,
		maxResp: opts.MaxResponseSize,
		ro:      opts.Community,
		rw:      opts.RWCommunity,
		users:   users,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.maxResp <= 0 {
		s.maxResp = DefaultMaxResponseSize
	}
	if s.maxResp > maxUDPPayload {
		s.maxResp = maxUDPPayload
	}
	if s.ro == "" {
		s.ro = "public"
	}
	if s.rw == "" {
		s.rw = "private"
	}
	if s.ro == s.rw {
		return nil, errors.New("sim: read-only and read-write communities must differ")
	}
	s.start = s.now()
	for k := range kinds {
		s.mibs[k] = buildMIB(&kinds[k])
	}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.devices = make([]*device, opts.N)
	shared := IsPrefix(opts.Listen) && (opts.Shared || opts.N > SharedAbove)
	if opts.Shared && !shared {
		s.cancel()
		return nil, fmt.Errorf("sim: listen %q: a shared socket needs a loopback IPv4 prefix", opts.Listen)
	}
	if shared {
		if err := s.startShared(ctx, addrs, opts.Seed); err != nil {
			s.cancel()
			return nil, err
		}
		return s.started(ctx, len(users) > 0), nil
	}
	for i := range opts.N {
		conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addrs[i]))
		if err != nil {
			s.closeConns()
			s.cancel()
			return nil, fmt.Errorf("sim: device %d: listen udp %s: %w", i, addrs[i], err)
		}
		d := newDevice(s, i, opts.Seed)
		d.conn = conn
		d.info.Addr = conn.LocalAddr().(*net.UDPAddr).AddrPort()
		s.devices[i] = d
	}
	for _, d := range s.devices {
		s.wg.Add(1)
		go d.serve()
	}
	return s.started(ctx, len(users) > 0), nil
}

// startShared binds the one socket of a shared site and starts its reader.
func (s *Site) startShared(ctx context.Context, addrs []netip.AddrPort, seed int64) error {
	a := addrs[0].Addr()
	if !a.Is4() {
		return fmt.Errorf("sim: a shared socket serves IPv4 prefixes only, not %s", a)
	}
	sc, err := listenShared(ctx, addrs[0].Port())
	if err != nil {
		return fmt.Errorf("sim: listen udp 0.0.0.0:%d on the loopback interface for %d devices: %w", addrs[0].Port(), len(addrs), err)
	}
	s.shared = sc
	b := a.As4()
	s.first = uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	for i := range s.devices {
		d := newDevice(s, i, seed)
		d.info.Addr = netip.AddrPortFrom(addrs[i].Addr(), sc.port())
		s.devices[i] = d
	}
	s.wg.Add(1)
	go s.serveShared()
	return nil
}

// serveShared reads the shared socket until it is closed and hands each datagram to the device at its
// destination address. One reader keeps each device's requests on one goroutine, as with a socket each.
func (s *Site) serveShared() {
	defer s.wg.Done()
	buf := make([]byte, readBufSize)
	port := s.shared.port()
	for errs := 0; errs < 100; {
		n, from, to, err := s.shared.read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.ctx.Err() != nil {
				return
			}
			errs++
			s.log.Debug("snmp read failed", "err", err)
			continue
		}
		errs = 0
		s.received.Add(1)
		d := s.deviceAt(to)
		if d == nil || to.Port() != port || !from.Addr().IsLoopback() || n == len(buf) {
			s.dropped.Add(1)
			continue
		}
		d.handle(buf[:n], from)
	}
	s.log.Warn("snmp site stopped after repeated read errors")
}

// deviceAt returns the device listening at a, or nil.
func (s *Site) deviceAt(a netip.AddrPort) *device {
	if !a.Addr().Is4() {
		return nil
	}
	b := a.Addr().As4()
	i := (uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) - s.first
	if uint64(i) >= uint64(len(s.devices)) {
		return nil
	}
	return s.devices[i]
}

// started hooks Close to ctx and logs the start.
func (s *Site) started(ctx context.Context, v3 bool) *Site {
	stop := context.AfterFunc(ctx, func() { _ = s.Close() })
	s.stopHook.Store(&stop)
	n := len(s.devices)
	s.log.Info("snmp site started", "devices", n, "first", s.devices[0].info.Addr.String(),
		"last", s.devices[n-1].info.Addr.String(), "v3", v3, "shared_socket", s.shared != nil)
	return s
}

// Sockets is how many UDP sockets the site holds: one per device, or one in all when shared.
func (s *Site) Sockets() int {
	if s.shared != nil {
		return 1
	}
	return len(s.devices)
}

func (s *Site) closeConns() {
	if s.shared != nil {
		_ = s.shared.close()
	}
	for _, d := range s.devices {
		if d != nil && d.conn != nil {
			_ = d.conn.Close()
		}
	}
}

// Close stops every goroutine of the site, closes its sockets and waits for
// them. It is idempotent and returns nil.
func (s *Site) Close() error {
	s.once.Do(func() {
		if stop := s.stopHook.Load(); stop != nil {
			(*stop)()
		}
		s.cancel()
		s.closeConns()
		s.wg.Wait()
		s.log.Info("snmp site stopped", "answered", s.answered.Load())
	})
	return nil
}

// Done is closed once Close has begun (directly or because the Start
// context ended).
func (s *Site) Done() <-chan struct{} { return s.ctx.Done() }

// Devices returns a copy of every device's identity, in index order.
func (s *Site) Devices() []Device {
	out := make([]Device, len(s.devices))
	for i, d := range s.devices {
		out[i] = d.info
	}
	return out
}

// Requests returns how many datagrams the site has sent in answer, for
// benchmarks.
func (s *Site) Requests() uint64 { return s.answered.Load() }

// Stats returns the site's counters.
func (s *Site) Stats() Stats {
	return Stats{
		Received:     s.received.Load(),
		Answered:     s.answered.Load(),
		BadCommunity: s.badCommunity.Load(),
		Malformed:    s.malformed.Load(),
		Reports:      s.reports.Load(),
		Dropped:      s.dropped.Load(),
	}
}

// SetFault makes device i misbehave from its next request on; None restores
// it. It panics when i is out of range, like a slice index.
func (s *Site) SetFault(i int, f Fault) {
	s.devices[i].fault.Store(&f)
}

// Fault is a way for a device to misbehave, for hostile-agent tests. The
// zero value is None.
type Fault struct {
	mode  faultMode
	delay time.Duration
}

type faultMode uint8

const (
	faultNone faultMode = iota
	faultSilent
	faultSlow
	faultGarbage
	faultWrongRequestID
	faultHuge
)

// The faults SetFault accepts, besides Slow.
var (
	// None: the device behaves.
	None = Fault{}
	// Silent: the device never answers (it still counts the request).
	Silent = Fault{mode: faultSilent}
	// Garbage: every datagram is answered with 1..200 random bytes.
	Garbage = Fault{mode: faultGarbage}
	// WrongRequestID: answers carry request-id+1, so clients must discard
	// them.
	WrongRequestID = Fault{mode: faultWrongRequestID}
	// HugeValues: sysDescr.0 becomes a ~60 KB string and answers ignore
	// the response size cap, so a GETBULK fills datagrams up to ~64 KB with
	// many varbinds.
	HugeValues = Fault{mode: faultHuge}
)

// Slow returns a fault that delays every answer by d. At most
// maxPendingSlow answers per device wait at once; more are dropped.
func Slow(d time.Duration) Fault { return Fault{mode: faultSlow, delay: d} }

// String names the fault, e.g. "slow(2s)".
func (f Fault) String() string {
	switch f.mode {
	case faultSilent:
		return "silent"
	case faultSlow:
		return fmt.Sprintf("slow(%s)", f.delay)
	case faultGarbage:
		return "garbage"
	case faultWrongRequestID:
		return "wrong-request-id"
	case faultHuge:
		return "huge-values"
	default:
		return "none"
	}
}
