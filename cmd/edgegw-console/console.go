package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/edgegw/edgegw/config"
	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/uplink"
	"github.com/edgegw/edgegw/uplink/protocol"
)

// upCredit is how many up_address messages may be on their way to the console at once. Credit is
// issued by hand (see received and nudge): automatic credit stalled against RabbitMQ with a backlog
// (PEERS.md, "Receiver credit stall"). Messages received but not yet accepted when the
// console exits go back to the queue when the connection closes.
const upCredit = 64

// dialTimeout bounds connecting (TCP, proxy, TLS, WebSocket, SASL, AMQP open).
const dialTimeout = 30 * time.Second

// console is one connection with one session to the broker, a receiver on up_address attached on
// first use, and a sender per down address used.
type console struct {
	cfg     *config.Console
	conn    *amqp.Conn
	sess    *amqp.Session
	up      *uplink.Inbox
	senders map[string]*amqp.Sender

	stdout, stderr io.Writer
	skipped        int // up_address messages read and dropped while waiting for something else
}

// open loads the config and connects.
func open(ctx context.Context, path string, stdout, stderr io.Writer) (*console, error) {
	cfg, err := config.LoadConsole(path)
	if err != nil {
		return nil, err
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintln(stderr, "edgegw-console: warning:", w)
	}
	cl := cfg.Cloud
	dc := uplink.DialConfigFor(cl, "edgegw-console-"+uplink.NewMessageID()[:12])
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	conn, err := uplink.Dial(dctx, dc)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("connect: %w", interrupted(ctx, err))
	}
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("begin session: %w", interrupted(ctx, err))
	}
	return &console{cfg: cfg, conn: conn, sess: sess, senders: map[string]*amqp.Sender{}, stdout: stdout, stderr: stderr}, nil
}

// close ends the connection. Links are not detached one by one: RabbitMQ 3.x never completes a
// detach (PEERS.md); closing the connection ends them, and releases unaccepted deliveries.
func (c *console) close() {
	_ = c.conn.Close()
}

// interrupted names a signal as the cause when ctx ended by one (SIGINT, SIGTERM).
func interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled) {
		return errors.New("interrupted")
	}
	return err
}

func (c *console) upAddress() string { return c.cfg.Cloud.UpAddress }

// attachUp attaches the receiver on up_address, once.
func (c *console) attachUp(ctx context.Context) error {
	if c.up != nil {
		return nil
	}
	in, err := uplink.OpenInbox(ctx, c.sess, c.upAddress(), upCredit)
	if err != nil {
		return interrupted(ctx, err)
	}
	c.up = in
	return nil
}

// next returns the next message from up_address, already accepted. A message that is not an edgegw
// envelope (no kind property) is accepted, reported on stderr and skipped. When ctx ends it returns
// ctx's error as is, so callers can tell a silence (DeadlineExceeded) from a failure.
func (c *console) next(ctx context.Context) (protocol.Envelope, error) {
	if err := c.attachUp(ctx); err != nil {
		return protocol.Envelope{}, err
	}
	for {
		msg, err := c.up.Receive(ctx)
		if err != nil {
			return protocol.Envelope{}, err
		}
		// Accept even when ctx has just ended: the message was received and is being handled.
		if err := c.up.Accept(ctx, msg); err != nil {
			return protocol.Envelope{}, err
		}
		env, err := protocol.FromAMQP(msg)
		if err != nil {
			id := ""
			if msg.Properties != nil && msg.Properties.MessageID != nil {
				id = fmt.Sprint(msg.Properties.MessageID)
			}
			fmt.Fprintf(c.stderr, "edgegw-console: skipped a message that is not an edgegw message (message-id %q): %v\n", id, err)
			continue
		}
		return env, nil
	}
}

// sender returns the sender for a down address, attaching it on first use: unsettled, so the broker's
// disposition says whether it took the command.
func (c *console) sender(ctx context.Context, addr string) (*amqp.Sender, error) {
	if s, ok := c.senders[addr]; ok {
		return s, nil
	}
	s, err := c.sess.NewSender(ctx, addr, &amqp.SenderOptions{
		TargetDurability:            amqp.DurabilityUnsettledState, // RabbitMQ: a durable queue survives restarts
		SettlementMode:              amqp.SenderSettleModeUnsettled.Ptr(),
		RequestedReceiverSettleMode: amqp.ReceiverSettleModeFirst.Ptr(),
	})
	if err != nil {
		return nil, fmt.Errorf("attach sender to %s: %w", addr, interrupted(ctx, err))
	}
	c.senders[addr] = s
	return s, nil
}

// send sends a command to the gateway's down address and waits until the broker has accepted it. It
// returns the envelope sent (its MessageID is what the reply's correlation-id will be).
func (c *console) send(ctx context.Context, gatewayID, deviceID string, cmd gateway.Command) (protocol.Envelope, error) {
	body, err := protocol.EncodeCommand(cmd)
	if err != nil {
		return protocol.Envelope{}, err
	}
	env := protocol.Envelope{Kind: cmd.Kind(), GatewayID: gatewayID, DeviceID: deviceID,
		MessageID: uplink.NewMessageID(), Created: time.Now(), Body: body}
	addr := c.cfg.Cloud.Address(c.cfg.Cloud.DownAddress, gatewayID)
	s, err := c.sender(ctx, addr)
	if err != nil {
		return env, err
	}
	r, err := s.SendWithReceipt(ctx, env.AMQP(), nil)
	if err != nil {
		return env, fmt.Errorf("send %s to %s: %w", env.Kind, addr, interrupted(ctx, err))
	}
	state, err := r.Wait(ctx)
	if err != nil {
		return env, fmt.Errorf("send %s to %s: waiting for the broker: %w", env.Kind, addr, interrupted(ctx, err))
	}
	switch s := state.(type) {
	case *amqp.StateAccepted:
		return env, nil
	case *amqp.StateRejected:
		return env, fmt.Errorf("send %s to %s: the broker rejected it: %v", env.Kind, addr, s.Error)
	default:
		return env, fmt.Errorf("send %s to %s: the broker did not take it (%T)", env.Kind, addr, state)
	}
}

// awaitReply reads up_address until the reply to cmd (correlation-id = its message-id); everything
// else read meanwhile is accepted and dropped.
func (c *console) awaitReply(ctx context.Context, cmd protocol.Envelope) (protocol.Envelope, protocol.Result, error) {
	for {
		env, err := c.next(ctx)
		if err != nil {
			return env, protocol.Result{}, err
		}
		if env.CorrelationID != cmd.MessageID {
			c.skipped++
			continue
		}
		var r protocol.Result
		if err := json.Unmarshal(env.Body, &r); err != nil {
			return env, r, fmt.Errorf("the %s from gateway %q is not a result: %v", env.Kind, env.GatewayID, err)
		}
		if r.SchemaVersion > protocol.SchemaVersion {
			fmt.Fprintf(c.stderr, "edgegw-console: warning: the reply has schemaVersion %d; this console knows %d\n",
				r.SchemaVersion, protocol.SchemaVersion)
		}
		return env, r, nil
	}
}

// learnGateway watches up_address for a message about device and returns its gateway-id.
func (c *console) learnGateway(ctx context.Context, device string) (string, error) {
	for {
		env, err := c.next(ctx)
		if err != nil {
			return "", err
		}
		if env.DeviceID == device && env.GatewayID != "" {
			fmt.Fprintf(c.stderr, "edgegw-console: device %s is on gateway %s (from a %s message)\n", device, env.GatewayID, env.Kind)
			return env.GatewayID, nil
		}
		c.skipped++
	}
}

// command is the pattern of every command verb: learn the gateway if need be, send, await the reply,
// print its result. wait bounds all of it.
func (c *console) command(ctx context.Context, wait time.Duration, gatewayID, deviceID string, cmd gateway.Command) error {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	defer func() {
		if c.skipped > 0 {
			fmt.Fprintf(c.stderr, "edgegw-console: read and dropped %d other message(s) from %s while waiting\n", c.skipped, c.upAddress())
		}
	}()
	// Attach to the up queue before anything is sent, so the reply has a reader waiting.
	if err := c.attachUp(ctx); err != nil {
		return err
	}
	if gatewayID == "" {
		g, err := c.learnGateway(ctx, deviceID)
		if err != nil {
			if isTimeout(parent, err) {
				return fmt.Errorf("no message about device %s arrived on %s within %s to tell its gateway; give --gateway",
					deviceID, c.upAddress(), wait)
			}
			return interrupted(parent, err)
		}
		gatewayID = g
	}
	sent, err := c.send(ctx, gatewayID, deviceID, cmd)
	if err != nil {
		if isTimeout(parent, err) {
			return fmt.Errorf("send %s to gateway %s: the broker did not confirm within %s", cmd.Kind(), gatewayID, wait)
		}
		return err
	}
	_, res, err := c.awaitReply(ctx, sent)
	if err != nil {
		if isTimeout(parent, err) {
			return fmt.Errorf("no %s from gateway %s within %s (command message-id %s); is the gateway connected?",
				protocol.ResultKind(cmd.Kind()), gatewayID, wait, sent.MessageID)
		}
		return interrupted(parent, err)
	}
	if !res.OK {
		msg := res.Error
		if msg == "" {
			msg = "the gateway answered ok=false without a reason"
		}
		return failure{"error: " + msg}
	}
	return printResult(c.stdout, res.Result)
}

// isTimeout reports whether err is the command's own deadline, not the parent's end or a failure.
func isTimeout(parent context.Context, err error) bool {
	return errors.Is(err, context.DeadlineExceeded) && parent.Err() == nil
}

// printResult prints a result's JSON indented, or "ok" when there is none.
func printResult(w io.Writer, raw json.RawMessage) error {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		_, err := fmt.Fprintln(w, "ok")
		return err
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		_, err = fmt.Fprintln(w, s)
		return err
	}
	_, err := fmt.Fprintln(w, b.String())
	return err
}
