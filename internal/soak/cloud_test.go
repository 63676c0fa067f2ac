package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/sim"
	"github.com/edgegw/edgegw/uplink"
	"github.com/edgegw/edgegw/uplink/protocol"
)

// cloud is the soak's cloud side: it reads everything the gateway sends, across broker restarts,
// counts every message id, keeps each device's twin as the cloud would (a full twin replaces it, a
// patch merges into it) and notes every version that goes backwards; and it sends commands, and notes
// their replies.
type cloud struct {
	t        *testing.T
	dial     uplink.DialConfig
	up, down string
	event    func(kind, detail string)

	mu              sync.Mutex
	ids             map[string]int
	received        int
	byKind          map[string]int
	twins           map[string]*twinModel
	audits          map[string]bool
	regressions     []string
	patchBeforeFull int
	sent            map[string]string // command id -> kind
	replies         map[string]int    // command id -> replies (unique message ids)
}

type twinModel struct {
	version        int64
	values         map[string]any
	fulls, patches int
}

func newCloud(t *testing.T, dial uplink.DialConfig, up, down string, event func(string, string)) *cloud {
	return &cloud{t: t, dial: dial, up: up, down: down, event: event, ids: map[string]int{}, byKind: map[string]int{},
		twins: map[string]*twinModel{}, audits: map[string]bool{}, sent: map[string]string{}, replies: map[string]int{}}
}

// session runs fn on a fresh connection and session until it fails or ctx ends.
func (c *cloud) session(ctx context.Context, fn func(*amqp.Session) error) {
	for ctx.Err() == nil {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		conn, err := uplink.Dial(dctx, c.dial)
		cancel()
		if err != nil {
			select {
			case <-time.After(300 * time.Millisecond):
			case <-ctx.Done():
			}
			continue
		}
		if sess, err := conn.NewSession(ctx, nil); err == nil {
			_ = fn(sess)
		}
		conn.Close()
	}
}

// consume reads the up queue until ctx ends.
func (c *cloud) consume(ctx context.Context) {
	c.session(ctx, func(sess *amqp.Session) error {
		in, err := uplink.OpenInbox(ctx, sess, c.up, 500)
		if err != nil {
			return err
		}
		for {
			m, err := in.Receive(ctx)
			if err != nil {
				return err
			}
			if e, err := protocol.FromAMQP(m); err == nil {
				c.record(e)
			}
			if err := in.Accept(ctx, m); err != nil {
				return err
			}
		}
	})
}

func (c *cloud) record(e protocol.Envelope) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.received++
	c.ids[e.MessageID]++
	if c.ids[e.MessageID] > 1 {
		return // a duplicate: at least once; everything below counts each message once
	}
	c.byKind[e.Kind]++
	if e.CorrelationID != "" {
		c.replies[e.CorrelationID]++
		return
	}
	switch e.Kind {
	case protocol.KindTwinFull:
		var b struct {
			Twin struct {
				DeviceID string         `json:"deviceId"`
				Reported map[string]any `json:"reported"`
			} `json:"twin"`
		}
		if json.Unmarshal(e.Body, &b) != nil {
			return
		}
		v := version(b.Twin.Reported)
		m := c.model(b.Twin.DeviceID)
		if v < m.version {
			c.regressions = append(c.regressions, fmt.Sprintf("%s: full twin $version %d after %d", b.Twin.DeviceID, v, m.version))
		}
		delete(b.Twin.Reported, "$version")
		m.version, m.values = v, b.Twin.Reported
		m.fulls++
	case protocol.KindTwinReported:
		var b struct {
			DeviceID string         `json:"deviceId"`
			Version  int64          `json:"$version"`
			Reported map[string]any `json:"reported"`
		}
		if json.Unmarshal(e.Body, &b) != nil {
			return
		}
		m := c.model(b.DeviceID)
		if m.fulls == 0 {
			c.patchBeforeFull++
			return
		}
		if b.Version <= m.version {
			c.regressions = append(c.regressions, fmt.Sprintf("%s: patch $version %d after %d", b.DeviceID, b.Version, m.version))
		}
		for k, v := range b.Reported {
			m.values[k] = v
		}
		m.version = b.Version
		m.patches++
	case protocol.KindAudit:
		var b protocol.Audit
		if json.Unmarshal(e.Body, &b) == nil {
			c.audits[auditKey(b.Entry)] = true
		}
	}
}

func (c *cloud) model(id string) *twinModel {
	m := c.twins[id]
	if m == nil {
		m = &twinModel{version: -1, values: map[string]any{}}
		c.twins[id] = m
	}
	return m
}

func version(reported map[string]any) int64 {
	f, _ := reported["$version"].(float64)
	return int64(f)
}

// commands sends a twin-get or a twin-desired (a display's backlight) every period until ctx ends.
func (c *cloud) commands(ctx context.Context, every time.Duration, devs []sim.Device, seed int64) {
	rng := rand.New(rand.NewPCG(uint64(seed), 3))
	desired := map[string]int64{}
	c.session(ctx, func(sess *amqp.Session) error {
		s, err := sess.NewSender(ctx, c.down, &amqp.SenderOptions{TargetDurability: amqp.DurabilityUnsettledState})
		if err != nil {
			return err
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
			case <-ctx.Done():
				return ctx.Err()
			}
			d := devs[rng.IntN(len(devs))]
			id := "mac-" + d.MAC[0:2] + d.MAC[3:5] + d.MAC[6:8] + d.MAC[9:11] + d.MAC[12:14] + d.MAC[15:17]
			var cmd gateway.Command = gateway.TwinGetCommand{DeviceID: id}
			if d.Kind == "display" && rng.IntN(2) == 0 {
				// Versions far apart per run, so a restarted soak's commands are never "not newer".
				desired[id] = max(desired[id]+1, time.Now().Unix())
				cmd = gateway.DesiredCommand{DeviceID: id, Version: desired[id],
					Desired: map[string]gateway.Value{"backlightPercent": gateway.Number(float64(rng.IntN(101)))}}
			}
			body, err := protocol.EncodeCommand(cmd)
			if err != nil {
				c.t.Errorf("encode: %v", err)
				return err
			}
			e := protocol.Envelope{Kind: cmd.Kind(), GatewayID: gatewayID, DeviceID: id, MessageID: uplink.NewMessageID(),
				Created: time.Now(), Body: body}
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err = s.Send(sctx, e.AMQP(), nil)
			cancel()
			if err != nil {
				return err // not sent: not counted; sent again on a new connection
			}
			c.mu.Lock()
			c.sent[e.MessageID] = e.Kind
			c.mu.Unlock()
		}
	})
}

func (c *cloud) unanswered() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unansweredLocked()
}

// unansweredLocked counts the commands sent without a reply yet; c.mu is held.
func (c *cloud) unansweredLocked() int {
	n := 0
	for id := range c.sent {
		if c.replies[id] == 0 {
			n++
		}
	}
	return n
}

func (c *cloud) brief() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("%d messages, %d unique, %d commands unanswered, kinds %v", c.received, len(c.ids), c.unansweredLocked(), c.byKind)
}
