// Package uplink carries every device's messages to the cloud over one outbound AMQP 1.0 connection
// (DESIGN.md, docs/uplink-protocol.md): dialing (dial.go), the durable outbox (uplink/outbox), the
// supervisor that keeps the connection up (this file), and the down-link that turns cloud commands into
// calls on the gateway core. It is the only package tree that imports go-amqp.
package uplink

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/gateway/store"
	"github.com/edgegw/edgegw/internal/clock"
	"github.com/edgegw/edgegw/uplink/outbox"
	"github.com/edgegw/edgegw/uplink/protocol"
)

// Config is what the supervisor needs beyond dialing.
type Config struct {
	Dial      DialConfig
	GatewayID string
	// UpAddress and DownAddress are resolved addresses (no templates left).
	UpAddress, DownAddress string
	// Window bounds messages awaiting the broker's disposition; zero means 64.
	Window int
	// ReconnectMax caps the backoff between connection attempts; zero means 1 minute.
	ReconnectMax time.Duration
	// HealthInterval between health messages; zero means 1 minute.
	HealthInterval time.Duration
	// TelemetryBatch, when not zero, gathers readings for this long into one telemetry-batch message
	// (see batcher); zero sends one telemetry message per poll.
	TelemetryBatch time.Duration
	// Enabled is the initial state of the cloud switch.
	Enabled bool
	// DropLogEvery is the least time between two log lines about telemetry the outbox dropped for lack of
	// room (each says how much since the line before); zero means 1 minute.
	DropLogEvery time.Duration
}

// Options are the supervisor's collaborators.
type Options struct {
	Outbox *outbox.Outbox
	// Handler carries out cloud commands; nil answers every command "not supported".
	Handler gateway.CommandHandler
	// Health returns the gateway's health (the uplink fills in its own and the outbox's parts).
	Health func() protocol.Health
	Logger *slog.Logger
}

// Connection states reported in health.
const (
	StateDisabled   = "disabled"
	StateConnecting = "connecting"
	StateConnected  = "connected"
)

// Uplink is the supervisor: it dials, keeps one session with one sender and one receiver, sends the
// outbox in order with a window of unsettled deliveries, answers commands, and reconnects with
// exponential backoff and jitter when anything fails.
type Uplink struct {
	cfg  Config
	opts Options
	log  *slog.Logger

	enabled atomic.Bool
	toggle  chan struct{} // pokes Run when the switch changes

	group groupCommit
	batch batcher

	mu         sync.Mutex
	state      string
	since      time.Time // when state last changed
	reconnects int
	lastErr    string
	counts     map[string]*KindCounts // by message kind

	drops     dropLog
	notStored atomic.Int64 // telemetry the state store could not take (a full disk)
}

// dropLog remembers what of the outbox's drop counters has been logged.
type dropLog struct {
	mu                sync.Mutex
	dropped, rejected uint64 // as of the last line
	notStored         int64
	last              time.Time
}

// KindCounts count the messages of one kind since the uplink started.
type KindCounts struct {
	// Sent were handed to the broker; Acked were accepted by it; Rejected were refused by it and
	// dead-lettered.
	Sent, Acked, Rejected uint64
}

// New makes an uplink; Run starts it.
func New(cfg Config, opts Options) (*Uplink, error) {
	if opts.Outbox == nil {
		return nil, errors.New("uplink: no outbox")
	}
	if cfg.GatewayID == "" || cfg.UpAddress == "" || cfg.DownAddress == "" {
		return nil, errors.New("uplink: gateway id, up and down addresses are required")
	}
	if cfg.Window <= 0 {
		cfg.Window = 64
	}
	if cfg.ReconnectMax <= 0 {
		cfg.ReconnectMax = time.Minute
	}
	if cfg.HealthInterval <= 0 {
		cfg.HealthInterval = time.Minute
	}
	if cfg.DropLogEvery <= 0 {
		cfg.DropLogEvery = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	u := &Uplink{cfg: cfg, opts: opts, log: opts.Logger.With("component", "uplink"), toggle: make(chan struct{}, 1),
		state: StateDisabled, since: time.Now(), counts: map[string]*KindCounts{}}
	u.enabled.Store(cfg.Enabled)
	// The counters cover the state file's life: only drops from now on are news.
	st := opts.Outbox.Stats()
	u.drops.dropped, u.drops.rejected = st.Dropped, st.Rejected
	u.batch.u = u
	return u, nil
}

// SetEnabled flips the cloud switch: off closes the connection within a second; on connects again.
// Messages keep going into the outbox either way.
func (u *Uplink) SetEnabled(on bool) {
	if u.enabled.Swap(on) != on {
		select {
		case u.toggle <- struct{}{}:
		default:
		}
	}
}

// Enabled reports the cloud switch.
func (u *Uplink) Enabled() bool { return u.enabled.Load() }

// Status is the uplink's part of the health message.
func (u *Uplink) Status() protocol.Uplink {
	u.mu.Lock()
	defer u.mu.Unlock()
	return protocol.Uplink{State: u.state, Since: u.since, Reconnects: u.reconnects, LastError: u.lastErr}
}

// Counts returns the message counters by kind.
func (u *Uplink) Counts() map[string]KindCounts {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make(map[string]KindCounts, len(u.counts))
	for k, c := range u.counts {
		out[k] = *c
	}
	return out
}

// count adds to one kind's counters.
func (u *Uplink) count(kind string, add func(*KindCounts)) {
	u.mu.Lock()
	defer u.mu.Unlock()
	c := u.counts[kind]
	if c == nil {
		c = &KindCounts{}
		u.counts[kind] = c
	}
	add(c)
}

func (u *Uplink) setState(state string, err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if state != u.state {
		switch {
		case state == StateConnected:
			u.log.Info("uplink connected", "url", u.cfg.Dial.URL, "up", u.cfg.UpAddress, "down", u.cfg.DownAddress)
		case u.state == StateConnected && err != nil:
			u.log.Warn("uplink lost", "err", err)
		case state == StateDisabled:
			u.log.Info("uplink disabled")
		}
	}
	if state != u.state {
		u.since = time.Now()
	}
	u.state = state
	if err != nil {
		u.lastErr = err.Error()
	}
}

// NewMessageID makes a unique message id (128 random bits, hex).
func NewMessageID() string {
	var b [16]byte
	if _, err := cryptoRead(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b[:])
}

var cryptoRead = crand.Read

// Publish stores a message in the outbox; it goes up when the connection allows. State messages with
// the same coalesce key are merged while they wait. It returns once the message is on disk.
//
// Publishes from many goroutines (the pollers) are committed together: the first caller writes every
// message that arrived while the previous write was syncing, in one transaction (group commit), so the
// outbox costs one disk sync per batch rather than per message.
func (u *Uplink) Publish(class outbox.Class, kind, deviceID, coalesce string, body any) error {
	m, err := message(class, kind, deviceID, coalesce, body)
	if err != nil {
		return err
	}
	// Telemetry the state store cannot take is counted and logged with the drops instead of failing
	// (the store's trouble is logged once).
	err = u.group.put(u.opts.Outbox, m)
	if class == outbox.Telemetry {
		return u.telemetryPut(err, 1)
	}
	return err
}

// telemetryPut is the outcome of putting n telemetry messages whose put returned err.
func (u *Uplink) telemetryPut(err error, n int) error {
	if storeErr(err) {
		u.notStored.Add(int64(n))
		err = nil
	}
	u.reportDrops()
	return err
}

// message encodes one message for the outbox.
func message(class outbox.Class, kind, deviceID, coalesce string, body any) (outbox.Message, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return outbox.Message{}, fmt.Errorf("uplink: encode %s: %w", kind, err)
	}
	return outbox.Message{ID: NewMessageID(), Class: class, Kind: kind, DeviceID: deviceID, Coalesce: coalesce,
		Created: clock.Now(), Body: b}, nil
}

// groupCommit batches concurrent puts, with their writes, into PutBatchWith calls.
type groupCommit struct {
	mu      sync.Mutex
	busy    bool
	pending []*putReq
}

type putReq struct {
	ms    []outbox.Message
	write func(w store.Writer) error
	done  chan error
}

func newPutReq(ms []outbox.Message, write func(w store.Writer) error) *putReq {
	return &putReq{ms: ms, write: write, done: make(chan error, 1)}
}

// put stores one message, with whatever else is being put, and returns its outcome.
func (g *groupCommit) put(ob *outbox.Outbox, m outbox.Message) error {
	req := newPutReq([]outbox.Message{m}, nil)
	g.queue(ob, req)()
	return <-req.done
}

// queue adds reqs in order and returns what commits them: for the caller that found no commit under
// way, the commit of everything queued until none is left; for the others nothing (that commit takes
// theirs). Requests queued while the caller holds a lock of its own reach the outbox in that lock's
// order (the telemetry batch's kept patches before a later Commit's messages).
func (g *groupCommit) queue(ob *outbox.Outbox, reqs ...*putReq) (run func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pending = append(g.pending, reqs...)
	if g.busy {
		return func() {}
	}
	g.busy = true
	return func() {
		g.mu.Lock()
		for len(g.pending) > 0 {
			batch := g.pending
			g.pending = nil
			g.mu.Unlock()
			commitBatch(ob, batch)
			g.mu.Lock()
		}
		g.busy = false
		g.mu.Unlock()
	}
}

// commitBatch puts every request's messages and runs every write in one transaction. Each request
// gets its own outcome: telemetry refused for room is the error of the request that sent it only,
// and a batch that failed for anything but the disk is tried again one request at a time, so one
// bad write does not fail the others.
func commitBatch(ob *outbox.Outbox, batch []*putReq) {
	var ms []outbox.Message
	var writes []func(w store.Writer) error
	for _, r := range batch {
		ms = append(ms, r.ms...)
		if r.write != nil {
			writes = append(writes, r.write)
		}
	}
	err := ob.PutBatchWith(ms, allWrites(writes))
	var full *outbox.FullError
	switch {
	case errors.As(err, &full):
		refused := map[string]bool{}
		for _, id := range full.IDs {
			refused[id] = true
		}
		for _, r := range batch {
			var mine error
			for _, m := range r.ms {
				if refused[m.ID] {
					mine = err
				}
			}
			r.done <- mine
		}
	case err != nil && len(batch) > 1 && !storeErr(err):
		for _, r := range batch {
			r.done <- ob.PutBatchWith(r.ms, r.write)
		}
	default:
		for _, r := range batch {
			r.done <- err
		}
	}
}

// allWrites runs writes in order, in one transaction; nil when there are none.
func allWrites(writes []func(w store.Writer) error) func(w store.Writer) error {
	if len(writes) == 0 {
		return nil
	}
	return func(w store.Writer) error {
		for _, f := range writes {
			if err := f(w); err != nil {
				return err
			}
		}
		return nil
	}
}

// storeErr reports whether err is the state store failing to write (a full disk, an I/O error).
func storeErr(err error) bool {
	return errors.Is(err, store.ErrFull) || errors.Is(err, store.ErrWriteFailed)
}

// reportDrops logs the telemetry the outbox dropped or refused for lack of room since the last line: at
// once the first time, then at most about once per DropLogEvery (Run looks every DropLogEvery, so the
// last counts are logged when the drops stop), so the lines add up to the outbox's counters without one
// line per message.
func (u *Uplink) reportDrops() {
	st := u.opts.Outbox.Stats()
	d := &u.drops
	d.mu.Lock()
	defer d.mu.Unlock()
	ns := u.notStored.Load()
	dropped, rejected, notStored := st.Dropped-d.dropped, st.Rejected-d.rejected, ns-d.notStored
	if dropped+rejected == 0 && notStored == 0 {
		return
	}
	now := time.Now()
	// A little slack, so the ticker's line comes when due rather than one tick late.
	if !d.last.IsZero() && now.Sub(d.last) < u.cfg.DropLogEvery*9/10 {
		return
	}
	d.dropped, d.rejected, d.notStored, d.last = st.Dropped, st.Rejected, ns, now
	u.log.Warn("outbox full: telemetry dropped", "dropped", dropped, "refused", rejected, "not_stored", notStored,
		"since", u.cfg.DropLogEvery.String(),
		"dropped_total", st.Dropped, "refused_total", st.Rejected, "outbox_bytes", st.Bytes, "outbox_max_bytes", st.MaxBytes,
		"hint", "the cloud is unreachable or slower than the polls; raise cloud.outbox_max_bytes to keep more (not_stored: the state store could not write)")
}

// Run keeps the uplink going until ctx is cancelled. It returns nil on cancel.
func (u *Uplink) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { u.healthLoop(ctx) })
	wg.Go(func() {
		t := time.NewTicker(u.cfg.DropLogEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				u.reportDrops()
			case <-ctx.Done():
				return
			}
		}
	})
	if u.cfg.TelemetryBatch > 0 {
		wg.Go(func() { u.batch.run(ctx, u.cfg.TelemetryBatch) })
	}
	backoff := time.Second
	for ctx.Err() == nil {
		if !u.enabled.Load() {
			u.setState(StateDisabled, nil)
			select {
			case <-u.toggle:
			case <-ctx.Done():
			}
			continue
		}
		u.setState(StateConnecting, nil)
		connected, err := u.session(ctx)
		if ctx.Err() != nil {
			break
		}
		u.opts.Outbox.Requeue()
		if !u.enabled.Load() {
			continue
		}
		u.mu.Lock()
		u.reconnects++
		u.mu.Unlock()
		u.setState(StateConnecting, err)
		if connected {
			backoff = time.Second // it worked for a while: start over
		}
		wait := time.Duration(float64(backoff) * (0.5 + rand.Float64())) // ±50 % jitter
		u.log.Debug("uplink reconnecting", "in", wait.Round(time.Millisecond), "err", err)
		select {
		case <-time.After(wait):
		case <-u.toggle:
		case <-ctx.Done():
		}
		backoff = min(backoff*2, u.cfg.ReconnectMax)
	}
	u.setState(StateDisabled, nil)
	return nil
}

// session runs one connection until it fails, the switch goes off, or ctx ends. connected says whether
// the links were up at all.
func (u *Uplink) session(ctx context.Context) (connected bool, err error) {
	dialCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	conn, err := Dial(dialCtx, u.cfg.Dial)
	cancel()
	if err != nil {
		return false, err
	}
	// Closing the connection, not the links: RabbitMQ 3.x hangs on link detach (PEERS.md).
	defer conn.Close()
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("uplink: begin session: %w", err)
	}
	// Durable termini: RabbitMQ declares /queue/X durable only when the link asks for it, and a
	// non-durable queue loses what it holds when the broker restarts.
	sender, err := sess.NewSender(ctx, u.cfg.UpAddress, &amqp.SenderOptions{
		TargetDurability:            amqp.DurabilityUnsettledState,
		SettlementMode:              amqp.SenderSettleModeUnsettled.Ptr(),
		RequestedReceiverSettleMode: amqp.ReceiverSettleModeFirst.Ptr(),
	})
	if err != nil {
		return false, fmt.Errorf("uplink: attach sender to %s: %w", u.cfg.UpAddress, err)
	}
	inbox, err := OpenInbox(ctx, sess, u.cfg.DownAddress, 32)
	if err != nil {
		return false, fmt.Errorf("uplink: %w", err)
	}
	u.setState(StateConnected, nil)

	runCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var wg sync.WaitGroup
	wg.Go(func() { stop(u.send(runCtx, sender)) })
	wg.Go(func() { stop(u.receive(runCtx, inbox, sender)) })
	wg.Go(func() {
		select {
		case <-conn.Done():
			stop(fmt.Errorf("uplink: connection closed: %w", conn.Err()))
		case <-u.toggle:
			stop(errDisabled)
		case <-runCtx.Done():
		}
	})
	<-runCtx.Done()
	conn.Close() // unblocks sends and receives in flight
	wg.Wait()
	err = context.Cause(runCtx)
	if errors.Is(err, errDisabled) && !u.enabled.Load() {
		err = nil
	} else if errors.Is(err, errDisabled) {
		err = nil // switched off and on again quickly: just reconnect
	}
	return true, err
}

var errDisabled = errors.New("uplink disabled")

type inFlight struct {
	id      string
	kind    string
	receipt amqp.SendReceipt
}

// send takes messages from the outbox in order and sends them unsettled, keeping up to Window awaiting
// their disposition; a second goroutine waits for dispositions in order and acks (accepted), retries
// (released, modified) or dead-letters (rejected) them. It returns on the first link or connection error;
// whatever is in flight then is requeued by Run (its fate is unknown: at least once).
func (u *Uplink) send(ctx context.Context, sender *amqp.Sender) error {
	ob := u.opts.Outbox
	window := make(chan inFlight, u.cfg.Window)
	waitErr := make(chan error, 1)
	go func() { waitErr <- u.settle(ctx, window) }()
	defer func() { close(window) }()
	for {
		m, err := ob.Next(ctx)
		if err != nil {
			return err
		}
		env := protocol.Envelope{Kind: m.Kind, GatewayID: u.cfg.GatewayID, DeviceID: m.DeviceID, MessageID: m.ID,
			CorrelationID: m.CorrelationID, Created: m.Created, Body: m.Body}
		r, err := sender.SendWithReceipt(ctx, env.AMQP(), nil)
		if err != nil {
			return fmt.Errorf("uplink: send %s: %w", m.Kind, err)
		}
		u.count(m.Kind, func(c *KindCounts) { c.Sent++ })
		select {
		case window <- inFlight{id: m.ID, kind: m.Kind, receipt: r}:
		case err := <-waitErr:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// settle waits for each delivery's outcome in order and records it in the outbox. Acks are written in
// batches (acks): an ack lost in a crash only means a resend, which at-least-once allows, and one disk
// sync per batch keeps the outbox off the critical path.
func (u *Uplink) settle(ctx context.Context, window <-chan inFlight) error {
	ob := u.opts.Outbox
	acked := acks{write: ob.AckBatch}
	defer func() { acked.flush(time.Now()) }()
	tick := time.NewTicker(ackEvery)
	defer tick.Stop()
	for {
		var p inFlight
		var ok bool
		select {
		case p, ok = <-window:
		case <-tick.C:
			if err := acked.tick(time.Now()); err != nil {
				return err
			}
			continue
		}
		if !ok {
			return nil
		}
		state, err := p.receipt.Wait(ctx)
		if err != nil {
			return fmt.Errorf("uplink: waiting for the broker's disposition: %w", err)
		}
		switch s := state.(type) {
		case *amqp.StateAccepted:
			u.count(p.kind, func(c *KindCounts) { c.Acked++ })
			if err := acked.add(p.id); err != nil {
				return err
			}
		case *amqp.StateRejected:
			u.log.Warn("broker rejected a message; dead-lettered", "message_id", p.id, "kind", p.kind, "err", s.Error)
			u.count(p.kind, func(c *KindCounts) { c.Rejected++ })
			if err := ob.Nack(p.id, false); err != nil {
				return err
			}
		default: // released, modified: try again later
			if err := ob.Nack(p.id, true); err != nil {
				return err
			}
		}
	}
}

// Acks are written when ackBatch have gathered, else every ackEvery; a write the state store could
// not do is tried again at most every ackRetryMax.
const (
	ackBatch    = 256
	ackEvery    = 20 * time.Millisecond
	ackRetryMax = time.Second
)

// acks gathers the ids of the deliveries the broker accepted and writes them to the outbox in batches.
// When the state store cannot write (a full disk) they are kept — the broker has them, they stay in
// flight, and dropping the connection would only send them again, once per attempt — and the write is
// tried again on the ticker only, ackEvery after the failure and twice as long after each further one
// (up to ackRetryMax), not at every later delivery: each try is a write under the outbox's lock that
// the puts wait for.
type acks struct {
	write func(ids []string) error // Outbox.AckBatch
	ids   []string
	retry time.Duration // after a failed write, the wait before the next try; zero after one went through
	next  time.Time     // no try before this
}

// add gathers an accepted id and writes a full batch, unless a failed write waits for the ticker.
func (a *acks) add(id string) error {
	a.ids = append(a.ids, id)
	if len(a.ids) < ackBatch || a.retry > 0 {
		return nil
	}
	return a.flush(time.Now())
}

// tick writes what is gathered, unless a failed write's wait runs past now.
func (a *acks) tick(now time.Time) error {
	if a.retry > 0 && now.Before(a.next) {
		return nil
	}
	return a.flush(now)
}

// flush writes what is gathered now. A write the state store could not do is not an error: the ids
// stay, for a later try.
func (a *acks) flush(now time.Time) error {
	if len(a.ids) == 0 {
		return nil
	}
	err := a.write(a.ids)
	if storeErr(err) {
		a.retry = min(max(2*a.retry, ackEvery), ackRetryMax)
		a.next = now.Add(a.retry)
		return nil
	}
	a.retry = 0
	a.ids = a.ids[:0]
	return err
}

// receive answers commands one at a time: decode, hand to the gateway, queue the reply in the outbox,
// then accept the command (so a crash in between redelivers it rather than losing it). A reply the
// outbox cannot take (a full disk) is sent straight on sender, and the command accepted only once the
// broker has accepted the reply: the cloud gets its answer — ok:false "state store full" when the
// command could not be carried out — and a command whose reply got nowhere is delivered again.
func (u *Uplink) receive(ctx context.Context, in *Inbox, sender *amqp.Sender) error {
	for {
		msg, err := in.Receive(ctx)
		if err != nil {
			return fmt.Errorf("uplink: %w", err)
		}
		reply := u.answer(ctx, msg)
		if err := u.putReply(reply); err != nil {
			sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			serr := sendSettled(sctx, sender, reply.AMQP())
			cancel()
			if serr != nil {
				return fmt.Errorf("uplink: a %s could be neither stored (%v) nor sent: %w", reply.Kind, err, serr)
			}
			u.log.Debug("a reply the outbox could not take was sent straight", "kind", reply.Kind, "err", err)
		}
		if err := in.Accept(ctx, msg); err != nil {
			return fmt.Errorf("uplink: %w", err)
		}
	}
}

// putReply queues a reply in the outbox.
func (u *Uplink) putReply(reply protocol.Envelope) error {
	return u.opts.Outbox.Put(outbox.Message{ID: reply.MessageID, Class: outbox.Control, Kind: reply.Kind,
		DeviceID: reply.DeviceID, Created: reply.Created, Body: reply.Body, CorrelationID: reply.CorrelationID})
}

// sendSettled sends m and waits until the broker accepts it.
func sendSettled(ctx context.Context, sender *amqp.Sender, m *amqp.Message) error {
	r, err := sender.SendWithReceipt(ctx, m, nil)
	if err != nil {
		return err
	}
	state, err := r.Wait(ctx)
	if err != nil {
		return err
	}
	if _, ok := state.(*amqp.StateAccepted); !ok {
		return fmt.Errorf("the broker did not accept it (%T)", state)
	}
	return nil
}

// answer decodes and carries out one command and returns its reply: exactly one, whose correlation-id
// is the command's message-id whatever is wrong with the command, envelope included.
func (u *Uplink) answer(ctx context.Context, msg *amqp.Message) protocol.Envelope {
	env, err := protocol.FromAMQP(msg)
	var result any
	switch {
	case err != nil:
	case env.MessageID == "":
		err = errors.New("the command has no message-id, so no reply could name it; nothing was done")
	case env.GatewayID != "" && env.GatewayID != u.cfg.GatewayID:
		err = fmt.Errorf("command for gateway %q reached gateway %q", env.GatewayID, u.cfg.GatewayID)
	}
	if err == nil {
		var cmd gateway.Command
		if cmd, err = protocol.DecodeCommand(env); err == nil {
			if u.opts.Handler == nil {
				err = fmt.Errorf("%s: %w", cmd.Kind(), gateway.ErrNotSupported)
			} else {
				cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				result, err = u.opts.Handler.HandleCommand(cctx, cmd)
				cancel()
			}
		}
	}
	if err != nil {
		u.log.Info("command refused", "kind", env.Kind, "message_id", env.MessageID, "err", err)
	}
	return protocol.Reply(env, u.cfg.GatewayID, NewMessageID(), clock.Now(), result, err)
}

// healthLoop publishes a health message every HealthInterval (coalesced: only the newest waits).
func (u *Uplink) healthLoop(ctx context.Context) {
	t := time.NewTicker(u.cfg.HealthInterval)
	defer t.Stop()
	for {
		u.PublishHealth()
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// Health completes the gateway's health with the uplink's and the outbox's parts: what the health
// message and `edgegw cloud status` show.
func (u *Uplink) Health(h protocol.Health) protocol.Health {
	h.SchemaVersion = protocol.SchemaVersion
	h.GatewayID = u.cfg.GatewayID
	h.Uplink = u.Status()
	h.CloudEnabled = u.enabled.Load()
	st := u.opts.Outbox.Stats()
	h.Outbox = protocol.Outbox{Pending: st.Pending, InFlight: st.InFlight, Bytes: st.Bytes, Dropped: int64(st.Dropped),
		DeadLettered: int64(st.DeadLettered)}
	h.GeneratedAtUTC = clock.Now().UTC()
	return h
}

// PublishHealth queues a health message now.
func (u *Uplink) PublishHealth() {
	var h protocol.Health
	if u.opts.Health != nil {
		h = u.opts.Health()
	}
	h = u.Health(h)
	if err := u.Publish(outbox.State, protocol.KindHealth, "", "health", h); err != nil && !storeErr(err) {
		u.log.Warn("could not queue health", "err", err) // a failing store is logged once, when it starts
	}
}

// MergeState is the outbox's merge for State messages waiting to go up: two twin-reported patches of one
// device become one patch with the newer version and every changed value; anything else (a full twin,
// health) is replaced by the newer one.
func MergeState(older, newer []byte) ([]byte, error) {
	var a, b protocol.TwinReported
	if json.Unmarshal(older, &a) != nil || json.Unmarshal(newer, &b) != nil || a.Reported == nil || b.Reported == nil ||
		a.DeviceID != b.DeviceID {
		return newer, nil
	}
	for k, v := range b.Reported {
		a.Reported[k] = v
	}
	a.Version = max(a.Version, b.Version)
	return json.Marshal(a)
}
