package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/config"
	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/internal/peers"
	"github.com/edgegw/edgegw/uplink"
	"github.com/edgegw/edgegw/uplink/protocol"
)

const device = "mac-001122aabbcc"

// result is one in-process run of the console.
type result struct {
	code           int
	stdout, stderr string
}

func runConsole(args ...string) result {
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// site is a test's broker setup: a console config on fresh queues and the gateway's side of them.
type site struct {
	cfgPath string
	cloud   config.Cloud
	sess    *amqp.Session // the fake gateway's
}

var unsafeChars = regexp.MustCompile(`[^a-zA-Z0-9-]+`)

// newSite writes a console config for the real RabbitMQ (TLS, client certificate, SASL EXTERNAL) with
// queues unique to the test, and connects the test's fake gateway with go-amqp.
func newSite(t *testing.T) *site {
	t.Helper()
	v := peers.Need(t, "PEERS_AMQPS_URL", "PEERS_CA", "PEERS_CLIENT_CERT", "PEERS_CLIENT_KEY")
	q := fmt.Sprintf("/queue/test-console-%s-%s", unsafeChars.ReplaceAllString(t.Name(), "-"), uplink.NewMessageID()[:8])
	path := filepath.Join(t.TempDir(), "console.toml")
	require.NoError(t, os.WriteFile(path, fmt.Appendf(nil, `[cloud]
url = %q
ca_file = %q
cert_file = %q
key_file = %q
up_address = %q
down_address = %q
`, v[0], v[1], v[2], v[3], q+"-up", q+"-down.{gateway_id}"), 0o600))
	cfg, err := config.LoadConsole(path)
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := uplink.Dial(ctx, uplink.DialConfig{URL: v[0], CAFile: v[1], CertFile: v[2], KeyFile: v[3]})
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() }) // not the links: RabbitMQ 3.x never completes a detach
	sess, err := conn.NewSession(ctx, nil)
	require.NoError(t, err)
	return &site{cfgPath: path, cloud: cfg.Cloud, sess: sess}
}

func (s *site) console(args ...string) result {
	return runConsole(append([]string{"--config", s.cfgPath}, args...)...)
}

func env(kind, gw, dev, id string, body any) protocol.Envelope {
	b, err := json.Marshal(body)
	if err != nil {
		panic(err)
	}
	return protocol.Envelope{Kind: kind, GatewayID: gw, DeviceID: dev, MessageID: id, Created: time.Now(), Body: b}
}

// publish sends envelopes to up_address as a gateway does (unsettled, each accepted), several in flight.
func (s *site) publish(t *testing.T, envs ...protocol.Envelope) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	snd, err := s.sess.NewSender(ctx, s.cloud.UpAddress, &amqp.SenderOptions{SettlementMode: amqp.SenderSettleModeUnsettled.Ptr(), TargetDurability: amqp.DurabilityUnsettledState})
	require.NoError(t, err)
	receipts := make([]amqp.SendReceipt, 0, len(envs))
	for _, e := range envs {
		r, err := snd.SendWithReceipt(ctx, e.AMQP(), nil)
		require.NoError(t, err)
		receipts = append(receipts, r)
	}
	for _, r := range receipts {
		st, err := r.Wait(ctx)
		require.NoError(t, err)
		require.IsType(t, &amqp.StateAccepted{}, st)
	}
}

// serve plays gateway gw: it answers each command on gw's down address with handle's result, as the
// real uplink does (protocol.DecodeCommand, protocol.Reply). It returns the commands it decoded.
func (s *site) serve(t *testing.T, gw string, handle func(gateway.Command) (any, error)) func() []protocol.Envelope {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr := s.cloud.Address(s.cloud.DownAddress, gw)
	actx, acancel := context.WithTimeout(ctx, 15*time.Second)
	defer acancel()
	rcv, err := s.sess.NewReceiver(actx, addr, &amqp.ReceiverOptions{Credit: -1, SourceDurability: amqp.DurabilityUnsettledState})
	require.NoError(t, err)
	require.NoError(t, rcv.IssueCredit(8))
	snd, err := s.sess.NewSender(actx, s.cloud.UpAddress, &amqp.SenderOptions{SettlementMode: amqp.SenderSettleModeUnsettled.Ptr(), TargetDurability: amqp.DurabilityUnsettledState})
	require.NoError(t, err)
	var mu sync.Mutex
	var got []protocol.Envelope
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			msg, err := rcv.Receive(ctx, nil)
			if err != nil {
				return
			}
			_ = rcv.AcceptMessage(ctx, msg)
			_ = rcv.IssueCredit(1)
			e, err := protocol.FromAMQP(msg)
			var res any
			if err == nil {
				mu.Lock()
				got = append(got, e)
				mu.Unlock()
				var cmd gateway.Command
				if cmd, err = protocol.DecodeCommand(e); err == nil {
					res, err = handle(cmd)
				}
			}
			reply := protocol.Reply(e, gw, uplink.NewMessageID(), time.Now(), res, err)
			if err := snd.Send(ctx, reply.AMQP(), nil); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return func() []protocol.Envelope {
		mu.Lock()
		defer mu.Unlock()
		return append([]protocol.Envelope(nil), got...)
	}
}

func health(gw string) protocol.Health {
	return protocol.Health{SchemaVersion: 1, GatewayID: gw, Version: "1.2.3", UptimeSeconds: 3723,
		Uplink:  protocol.Uplink{State: "connected", Reconnects: 2},
		Outbox:  protocol.Outbox{Pending: 4, Bytes: 1024, Dropped: 1},
		Devices: protocol.Devices{Discovered: 5, Claimed: 3, Online: 2}, Polls: 100, PollErrors: 7,
		CloudEnabled: true, GeneratedAtUTC: time.Now().UTC()}
}

func reported(dev string, v int64) protocol.TwinReported {
	return protocol.TwinReported{SchemaVersion: 1, DeviceID: dev, Version: v,
		Reported: map[string]gateway.Value{"powerState": gateway.String("on"), "lampHours": gateway.Number(1234)}}
}

func TestTail(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.publish(t,
		env(protocol.KindHealth, "gw1", "", "h1", health("gw1")),
		env(protocol.KindTelemetry, "gw2", device, "other", map[string]any{"schemaVersion": 1}),
		env(protocol.KindTwinReported, "gw1", device, "r1", reported(device, 7)),
	)
	r := s.console("tail", "--gateway", "gw1", "--json", "--timeout", "1s")
	require.Equal(t, 0, r.code, r)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 2, r)
	var m struct {
		Kind, GatewayID, DeviceID, MessageID, CorrelationID string
		Created                                             time.Time
		Body                                                json.RawMessage
	}
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &m))
	require.Equal(t, "health", m.Kind)
	require.Equal(t, "gw1", m.GatewayID)
	require.Empty(t, m.DeviceID)
	require.Equal(t, "h1", m.MessageID)
	require.WithinDuration(t, time.Now(), m.Created, time.Minute)
	var h protocol.Health
	require.NoError(t, json.Unmarshal(m.Body, &h), "body is raw JSON")
	require.Equal(t, "1.2.3", h.Version)
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &m))
	require.Equal(t, "twin-reported", m.Kind)
	require.Equal(t, device, m.DeviceID)
	require.Equal(t, "r1", m.MessageID)
	require.JSONEq(t, `{"schemaVersion":1,"deviceId":"mac-001122aabbcc","$version":7,"reported":{"powerState":"on","lampHours":1234}}`, string(m.Body))

	// Text lines, --kind and --count: stops after the first match, leaves the rest in the queue.
	s.publish(t,
		env(protocol.KindTelemetry, "gw1", device, "t1", map[string]any{"schemaVersion": 1, "v": 1}),
		env(protocol.KindTwinReported, "gw1", device, "r2", reported(device, 8)),
		env(protocol.KindTwinReported, "gw1", device, "r3", reported(device, 9)),
	)
	r = s.console("tail", "--kind", "twin-reported", "--count", "1")
	require.Equal(t, 0, r.code, r)
	require.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z gw1 mac-001122aabbcc twin-reported r2 \{"schemaVersion":1,.*"\$version":8`, r.stdout)
	require.Equal(t, 1, strings.Count(r.stdout, "\n"), r)
	r = s.console("tail", "--timeout", "1s")
	require.Equal(t, 0, r.code, r)
	require.Contains(t, r.stdout, " r3 ", "the message after --count's last was not lost")

	// --timeout with nothing at all: exit 1.
	r = s.console("tail", "--timeout", "300ms")
	require.Equal(t, 1, r.code, r)
	require.Contains(t, r.stderr, "no matching message within 300ms")
}

func TestHealth(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.publish(t,
		env(protocol.KindTelemetry, "gw1", device, "t1", map[string]any{"schemaVersion": 1}),
		env(protocol.KindHealth, "gw2", "", "h0", health("gw2")),
		env(protocol.KindHealth, "gw1", "", "h1", health("gw1")),
		env(protocol.KindHealth, "gw1", "", "h2", health("gw1")),
	)
	r := s.console("health", "--gateway", "gw1", "--wait", "5s")
	require.Equal(t, 0, r.code, r)
	for _, want := range []string{"gateway    gw1\n", "version    1.2.3\n", "uptime     1h2m3s\n",
		"uplink     connected, 2 reconnects\n", "outbox     4 pending, 0 in flight, 1024 bytes, 1 dropped, 0 dead-lettered\n",
		"devices    5 discovered, 3 claimed, 2 online\n", "polls      100, 7 errors\n", "cloud      enabled\n"} {
		require.Contains(t, r.stdout, want)
	}
	r = s.console("health", "--gateway", "gw1", "--json", "--wait", "5s")
	require.Equal(t, 0, r.code, r)
	var h protocol.Health
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &h))
	require.Equal(t, "gw1", h.GatewayID)
	require.Equal(t, 1, strings.Count(r.stdout, "\n"))

	r = s.console("health", "--gateway", "gw1", "--wait", "500ms")
	require.Equal(t, 1, r.code, r)
	require.Contains(t, r.stderr, "no health message from gateway gw1 within 500ms")
}

// A message the console accepted is gone from the queue, even when the console exits right after
// accepting it (see console.received).
func TestAcceptedStayAccepted(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	for i := range 8 {
		s.publish(t,
			env(protocol.KindTelemetry, "gw1", device, fmt.Sprintf("t%d", i), map[string]any{"schemaVersion": 1}),
			env(protocol.KindHealth, "gw2", "", fmt.Sprintf("h0-%d", i), health("gw2")),
			env(protocol.KindHealth, "gw1", "", fmt.Sprintf("h1-%d", i), health("gw1")),
			env(protocol.KindHealth, "gw1", "", fmt.Sprintf("h2-%d", i), health("gw1")))
		r := s.console("tail", "--kind", "health", "--gateway", "gw1", "--count", "1")
		require.Contains(t, r.stdout, fmt.Sprintf(" h1-%d ", i), r)
		r = s.console("tail", "--kind", "health", "--gateway", "gw1", "--count", "1")
		require.Contains(t, r.stdout, fmt.Sprintf(" h2-%d ", i), r)
		r = s.console("tail", "--timeout", "100ms")
		require.Equal(t, 1, r.code, "round %d: accepted messages came back:\n%s", i, r)
	}
}

func TestCount(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	var envs []protocol.Envelope
	for i := range 100 {
		kind := protocol.KindTelemetry
		if i%10 == 0 {
			kind = protocol.KindTwinReported
		}
		envs = append(envs, env(kind, "gw1", device, fmt.Sprintf("id-%03d", i), map[string]any{"schemaVersion": 1, "i": i}))
		if i%20 == 3 { // 5 duplicates, as redelivery after a lost acknowledgement makes them
			envs = append(envs, envs[len(envs)-1])
		}
	}
	envs = append(envs, env(protocol.KindTelemetry, "gw2", device, "id-000", map[string]any{"schemaVersion": 1}))
	s.publish(t, envs...)

	r := s.console("count", "--gateway", "gw1", "--timeout", "1s", "--expect", "100")
	require.Equal(t, 0, r.code, r)
	require.Contains(t, r.stdout, "gateway gw1: 100 unique, 5 duplicates, 105 messages\n")
	require.Contains(t, r.stdout, "  telemetry        90\n")
	require.Contains(t, r.stdout, "  twin-reported    10\n")

	s.publish(t, envs[:3]...)
	r = s.console("count", "--gateway", "gw1", "--timeout", "500ms", "--expect", "5", "--json")
	require.Equal(t, 1, r.code, r)
	var tl tally
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &tl), r)
	require.Equal(t, tally{GatewayID: "gw1", Unique: 3, Messages: 3, Kinds: map[string]int{"telemetry": 2, "twin-reported": 1}, Readings: 2}, tl)
	require.Contains(t, r.stderr, "3 unique message-ids from gateway gw1, expected at least 5 (2 missing)")
}

// A backlog is read to its end: RabbitMQ 3.10 stalls a receiver now and then (see renewCredit).
func TestCountBacklog(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	for round := range 2 {
		envs := make([]protocol.Envelope, 0, 3000)
		for i := range 3000 {
			envs = append(envs, env(protocol.KindTelemetry, "gw1", device, fmt.Sprintf("%d-%d", round, i), map[string]any{"schemaVersion": 1}))
		}
		s.publish(t, envs...)
		r := s.console("count", "--gateway", "gw1", "--timeout", "2s", "--expect", "3000")
		require.Equal(t, 0, r.code, r)
		require.Contains(t, r.stdout, "gateway gw1: 3000 unique, 0 duplicates, 3000 messages\n")
	}
}

func TestCommands(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	twin := gateway.Twin{DeviceID: device}
	got := s.serve(t, "gw1", func(cmd gateway.Command) (any, error) {
		switch c := cmd.(type) {
		case gateway.TwinGetCommand:
			if c.DeviceID != device {
				return nil, fmt.Errorf("%w: %s", gateway.ErrNoDevice, c.DeviceID)
			}
			return twin, nil
		case gateway.DesiredCommand:
			return map[string]any{"accepted": c.Desired}, nil
		case gateway.ClaimCommand:
			return map[string]string{"state": "claimed", "mac": c.MAC}, nil
		case gateway.MethodCommand:
			return nil, fmt.Errorf("method %s: %w", c.Name, gateway.ErrNotSupported)
		}
		return nil, nil
	})
	// Someone else's message waits in the up queue: read and dropped while waiting for the reply.
	s.publish(t, env(protocol.KindTelemetry, "gw2", "mac-00aabbccddee", "noise", map[string]any{"schemaVersion": 1}))

	r := s.console("twin", "--device", device, "--gateway", "gw1", "--wait", "10s")
	require.Equal(t, 0, r.code, r)
	var tw gateway.Twin
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &tw), r)
	require.Equal(t, device, tw.DeviceID)
	require.Contains(t, r.stderr, "read and dropped 1 other message(s)")
	cmds := got()
	require.Len(t, cmds, 1)
	require.Equal(t, protocol.KindTwinGet, cmds[0].Kind)
	require.Equal(t, "gw1", cmds[0].GatewayID)
	require.Equal(t, device, cmds[0].DeviceID)
	require.Len(t, cmds[0].MessageID, 32)

	// Without --gateway: learned from a message about the device.
	s.publish(t, env(protocol.KindTwinReported, "gw1", device, "r1", reported(device, 1)))
	r = s.console("twin", "--device", device, "--wait", "10s")
	require.Equal(t, 0, r.code, r)
	require.Contains(t, r.stderr, "device "+device+" is on gateway gw1 (from a twin-reported message)")
	require.Contains(t, r.stdout, `"deviceId": "`+device+`"`)

	// An error reply: exit 1, "error: ..." as the gateway wrote it.
	r = s.console("twin", "--device", "mac-00000000beef", "--gateway", "gw1", "--wait", "10s")
	require.Equal(t, 1, r.code, r)
	require.Equal(t, "error: no such device: mac-00000000beef\n", r.stderr)

	r = s.console("set", "--device", device, "--gateway", "gw1", "--version", "42", "--wait", "10s",
		"inputSource=hdmi1", "volume=20", "mute=false", `label="7"`)
	require.Equal(t, 0, r.code, r)
	require.JSONEq(t, `{"accepted":{"inputSource":"hdmi1","volume":20,"mute":false,"label":"7"}}`, r.stdout)
	cmds = got()
	d, err := protocol.DecodeCommand(cmds[len(cmds)-1])
	require.NoError(t, err)
	require.Equal(t, int64(42), d.(gateway.DesiredCommand).Version)

	r = s.console("set", "--device", device, "--gateway", "gw1", "--wait", "10s", "powerState=on")
	require.Equal(t, 0, r.code, r)
	cmds = got()
	d, err = protocol.DecodeCommand(cmds[len(cmds)-1])
	require.NoError(t, err)
	require.InDelta(t, time.Now().Unix(), d.(gateway.DesiredCommand).Version, 60, "default version is the unix time")

	r = s.console("claim", "--gateway", "gw1", "--mac", "00-11-22-AA-BB-CC", "--serial", "SN1", "--group", "Lobby", "--wait", "10s")
	require.Equal(t, 0, r.code, r)
	require.JSONEq(t, `{"state":"claimed","mac":"00:11:22:aa:bb:cc"}`, r.stdout)

	// Flags after the method name; an unsupported method is the gateway's error.
	r = s.console("method", "--device", device, "reboot", "--gateway", "gw1", "--wait", "10s", "delay=5")
	require.Equal(t, 1, r.code, r)
	require.Equal(t, "error: method reboot: not supported by this gateway version\n", r.stderr)
	cmds = got()
	mc, err := protocol.DecodeCommand(cmds[len(cmds)-1])
	require.NoError(t, err)
	require.Equal(t, gateway.MethodCommand{DeviceID: device, Name: "reboot", Args: map[string]gateway.Value{"delay": gateway.Number(5)}}, mc)

	// Nobody serves gw9: no reply within --wait.
	r = s.console("twin", "--device", device, "--gateway", "gw9", "--wait", "500ms")
	require.Equal(t, 1, r.code, r)
	require.Contains(t, r.stderr, "no twin-get-result from gateway gw9 within 500ms")
	// Nothing about an unknown device: cannot learn its gateway.
	r = s.console("twin", "--device", "mac-0000000000ff", "--wait", "300ms")
	require.Equal(t, 1, r.code, r)
	require.Contains(t, r.stderr, "no message about device mac-0000000000ff arrived on "+s.cloud.UpAddress+" within 300ms")
}

func TestUsageAndConfigErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	require.NoError(t, os.WriteFile(bad, []byte("[cloud]\nurl = \"amqps://127.0.0.1:1\"\nbogus = 1\nhealth_interval = \"1s\"\n"), 0o600))
	refused := filepath.Join(dir, "refused.toml")
	require.NoError(t, os.WriteFile(refused, []byte("[cloud]\nurl = \"amqps://127.0.0.1:1\"\nsasl = \"anonymous\"\n"), 0o600))

	tests := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"--help"}, 0, "Usage: edgegw-console --config FILE VERB [flags]", ""},
		{[]string{"help"}, 0, "Verbs:", ""},
		{[]string{"help", "count"}, 0, "Usage: edgegw-console --config FILE count --gateway G", ""},
		{[]string{"tail", "--help"}, 0, "-timeout duration", ""},
		{[]string{"--config", bad, "method", "-h"}, 0, "NAME [key=value...]", ""},
		{nil, 2, "", "edgegw-console: no verb"},
		{[]string{"frobnicate"}, 2, "", `edgegw-console: unknown verb "frobnicate"`},
		{[]string{"--nope"}, 2, "", "flag provided but not defined: -nope"},
		{[]string{"tail"}, 2, "", "edgegw-console tail: --config FILE is required (see edgegw-console tail --help)"},
		{[]string{"--config", bad, "health"}, 2, "", "edgegw-console health: --gateway is required"},
		{[]string{"--config", bad, "count", "--gateway", "g", "--timeout", "soon"}, 2, "", `invalid value "soon" for flag -timeout`},
		{[]string{"--config", bad, "set", "--device", "d", "novalue"}, 2, "", `"novalue" is not key=value`},
		{[]string{"--config", bad, "set", "--device", "d", "a=1", "a=2"}, 2, "", "a is given twice"},
		{[]string{"--config", bad, "claim", "--gateway", "g", "--mac", "ff:ff:ff:ff:ff:ff", "--serial", "s"}, 2, "", "--mac: mac ff:ff:ff:ff:ff:ff is the broadcast address"},
		{[]string{"--config", bad, "unclaim", "--gateway", "g"}, 2, "", "give --mac or --device"},
		{[]string{"--config", bad, "tail", "extra"}, 2, "", `unexpected argument "extra"`},
		{[]string{"--config", bad, "tail"}, 1, "", "edgegw-console tail: " + bad + ":3:1: cloud.bogus: unknown key (known: url, ca_file, " +
			"cert_file, key_file, sasl, username, password_file, up_address, down_address, proxy, proxy_auth_file, insecure_plaintext, " +
			"websocket_subprotocol)\n" + bad + ":4:1: cloud.health_interval: is a gateway setting; edgegw-console does not use it"},
		{[]string{"tail", "--config", filepath.Join(dir, "nope.toml")}, 1, "", "nope.toml: cannot read config: no such file or directory"},
		{[]string{"--config", refused, "tail"}, 1, "", "edgegw-console tail: connect: uplink amqps://127.0.0.1:1: "},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := runConsole(tc.args...)
			require.Equal(t, tc.code, r.code, r)
			require.Contains(t, r.stdout, tc.stdout, r)
			require.Contains(t, r.stderr, tc.stderr, r)
		})
	}
}

func TestParseValue(t *testing.T) {
	for in, want := range map[string]gateway.Value{
		"20": gateway.Number(20), "-1.5e3": gateway.Number(-1500), "true": gateway.Bool(true),
		"false": gateway.Bool(false), "hdmi1": gateway.String("hdmi1"), `"20"`: gateway.String("20"),
		"": gateway.String(""), "NaN": gateway.String("NaN"), "0x10": gateway.String("0x10"),
		"007": gateway.String("007"), "a=b": gateway.String("a=b"), `"`: gateway.String(`"`),
	} {
		require.Equal(t, want, parseValue(in), in)
	}
	m, err := parseValues([]string{"k=a=b", " x =1"})
	require.NoError(t, err)
	require.Equal(t, map[string]gateway.Value{"k": gateway.String("a=b"), "x": gateway.Number(1)}, m)
}

func TestEvents(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	at := time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC)
	ev := func(name string, active bool, clears ...string) protocol.Event {
		return protocol.Event{SchemaVersion: 1, Event: gateway.Event{ID: "0000000000000000000000" + name[:2], DeviceID: device, Name: name,
			Severity: "critical", Time: at, Source: "127.0.10.3:161", TrapOID: ".1.3.6.1.2.1.33.2.1", Active: active, Clears: clears, Protocol: "snmp"}}
	}
	s.publish(t,
		env(protocol.KindHealth, "gw1", "", "h1", health("gw1")),
		env(protocol.KindEvent, "gw1", device, "e1", ev("onBattery", true)),
		env(protocol.KindEvent, "gw2", device, "e2", ev("other", false)),
		env(protocol.KindEvent, "gw1", device, "e3", ev("powerRestored", false, "onBattery")),
	)
	r := s.console("events", "--gateway", "gw1", "--timeout", "1s")
	require.Equal(t, 0, r.code, r)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 2, r)
	require.Equal(t, "2026-11-23T18:00:00.000Z gw1 mac-001122aabbcc critical onBattery active trap=.1.3.6.1.2.1.33.2.1 from=127.0.10.3:161", lines[0])
	require.Contains(t, lines[1], "powerRestored clears=onBattery")

	s.publish(t, env(protocol.KindEvent, "gw1", device, "e4", ev("onBattery", true)))
	r = s.console("events", "--json", "--count", "1")
	require.Equal(t, 0, r.code, r)
	var e gateway.Event
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &e))
	require.Equal(t, "onBattery", e.Name)
	require.True(t, e.Active)
}
