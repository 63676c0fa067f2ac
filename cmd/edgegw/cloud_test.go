package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/config"
	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/internal/peers"
	"github.com/edgegw/edgegw/sim"
	"github.com/edgegw/edgegw/uplink"
	"github.com/edgegw/edgegw/uplink/protocol"
)

// TestDaemonToRabbitMQ runs the daemon on a simulated site with the uplink to the real RabbitMQ (mTLS,
// SASL EXTERNAL): every device's full twin and reported changes arrive; a twin-get command is answered;
// `edgegw cloud disable` closes the uplink and the switch survives a restart.
func TestDaemonToRabbitMQ(t *testing.T) {
	v := peers.Need(t, "PEERS_AMQPS_URL", "PEERS_CA", "PEERS_CLIENT_CERT", "PEERS_CLIENT_KEY")
	site, err := sim.Start(t.Context(), sim.Options{N: 4, BasePort: 0})
	require.NoError(t, err)
	defer site.Close()
	var targets []string
	for _, d := range site.Devices() {
		targets = append(targets, fmt.Sprintf("%q", d.Addr.String()))
	}
	q := uplink.NewMessageID()[:10]
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "edgegw.toml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(fmt.Sprintf(`[gateway]
id = "gw-e2e"
state_dir = "state"
[[discovery.snmp]]
targets = [%s]
timeout = "500ms"
retries = 0
[polling]
interval = "1s"
[cloud]
enabled = true
url = %q
ca_file = %q
cert_file = %q
key_file = %q
up_address = "/queue/e2e-up-%s"
down_address = "/queue/e2e-down-%s-{gateway_id}"
health_interval = "1s"
`, strings.Join(targets, ", "), v[0], v[1], v[2], v[3], q, q)), 0o600))
	cfg, err := config.Load(cfgPath, protocols().tableCodecs()...)
	require.NoError(t, err)

	// The cloud side: read the up queue, write the down queue.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	conn, err := uplink.Dial(ctx, uplink.DialConfig{URL: v[0], CAFile: v[1], CertFile: v[2], KeyFile: v[3]})
	require.NoError(t, err)
	defer conn.Close()
	sess, err := conn.NewSession(ctx, nil)
	require.NoError(t, err)
	recv, err := sess.NewReceiver(ctx, "/queue/e2e-up-"+q, &amqp.ReceiverOptions{Credit: -1, SourceDurability: amqp.DurabilityUnsettledState})
	require.NoError(t, err)
	require.NoError(t, recv.IssueCredit(200))
	next := func() protocol.Envelope {
		m, err := recv.Receive(ctx, nil)
		require.NoError(t, err)
		require.NoError(t, recv.AcceptMessage(ctx, m))
		require.NoError(t, recv.IssueCredit(1))
		e, err := protocol.FromAMQP(m)
		require.NoError(t, err)
		return e
	}

	dctx, stopDaemon := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- daemon(dctx, protocols(), cfg, slog.New(slog.DiscardHandler), runOptions{}) }()

	// Claim the site from a CSV, as facilities staff would: one wrong serial, one bad row.
	var csvText strings.Builder
	csvText.WriteString("\ufeffMAC,Serial,Group\r\n")
	for i, d := range site.Devices() {
		serial := d.Serial
		if i == 3 {
			serial = "NOT-" + serial // rejected: nothing of it may go up
		}
		fmt.Fprintf(&csvText, "%s,%s,Lobby\r\n", strings.ToUpper(strings.ReplaceAll(d.MAC, ":", "-")), serial)
	}
	csvText.WriteString("zz:zz,bad\r\n")
	csvPath := filepath.Join(dir, "devices.csv")
	require.NoError(t, os.WriteFile(csvPath, []byte(csvText.String()), 0o644))
	var out, errOut bytes.Buffer
	require.Eventually(t, func() bool { // the daemon's first discovery pass has found the site
		out.Reset()
		var h protocol.Health
		return run([]string{"cloud", "status", "--config", cfgPath}, &out, &errOut) == exitOK &&
			json.Unmarshal(out.Bytes(), &h) == nil && h.Devices.Discovered == len(site.Devices())
	}, 30*time.Second, 100*time.Millisecond, "status: %s", &out)
	out.Reset()
	require.Equal(t, exitOK, run([]string{"claim", "import", csvPath, "--config", cfgPath}, &out, &errOut), errOut.String())
	require.Contains(t, out.String(), "3 claimed")
	require.Contains(t, out.String(), "1 rejected")
	require.Contains(t, out.String(), "line 6: mac \"zz:zz\" is not a MAC address")
	rejected := "mac-" + strings.ReplaceAll(site.Devices()[3].MAC, ":", "")

	full := map[string]bool{}
	reported := map[string]bool{}
	var health protocol.Health
	audits := 0
	for len(full) < 3 || len(reported) < 3 || health.Devices.Claimed < 3 || audits < 3 {
		e := next()
		require.Equal(t, "gw-e2e", e.GatewayID)
		require.NotEqual(t, rejected, e.DeviceID, "nothing of a rejected device goes up (kind %s)", e.Kind)
		switch e.Kind {
		case protocol.KindTwinFull:
			var b protocol.TwinFull
			require.NoError(t, json.Unmarshal(e.Body, &b))
			require.Equal(t, e.DeviceID, b.Twin.DeviceID)
			require.NotEmpty(t, b.Twin.Identity.Serial)
			require.NotContains(t, string(e.Body), "public", "no community in a twin")
			full[e.DeviceID] = true
		case protocol.KindTwinReported:
			reported[e.DeviceID] = true
		case protocol.KindHealth:
			require.NoError(t, json.Unmarshal(e.Body, &health))
		case protocol.KindAudit:
			var a protocol.Audit
			require.NoError(t, json.Unmarshal(e.Body, &a))
			if a.Entry.Action == "claimed" {
				audits++
			}
		}
	}
	require.Equal(t, "connected", health.Uplink.State)

	// A command from the cloud.
	var dev string
	for d := range full {
		dev = d
	}
	send, err := sess.NewSender(ctx, "/queue/e2e-down-"+q+"-gw-e2e", &amqp.SenderOptions{TargetDurability: amqp.DurabilityUnsettledState})
	require.NoError(t, err)
	body, _ := protocol.EncodeCommand(twinGet(dev))
	cmd := protocol.Envelope{Kind: protocol.KindTwinGet, GatewayID: "gw-e2e", MessageID: "cmd-1", Created: time.Now(), Body: body}
	require.NoError(t, send.Send(ctx, cmd.AMQP(), nil))
	for {
		e := next()
		if e.CorrelationID != "cmd-1" {
			continue
		}
		var r protocol.Result
		require.NoError(t, json.Unmarshal(e.Body, &r))
		require.True(t, r.OK, r.Error)
		require.Contains(t, string(r.Result), dev)
		break
	}

	// The switch, through the admin socket like the CLI.
	out.Reset()
	require.Equal(t, exitOK, run([]string{"cloud", "disable", "--config", cfgPath}, &out, &errOut), errOut.String())
	require.Contains(t, out.String(), `"cloudEnabled": false`)
	require.Eventually(t, func() bool {
		out.Reset()
		run([]string{"cloud", "status", "--config", cfgPath}, &out, &errOut)
		return strings.Contains(out.String(), `"state": "disabled"`)
	}, 5*time.Second, 50*time.Millisecond)
	stopDaemon()
	require.NoError(t, stopped(done))

	// Restart: still disabled; enable again.
	dctx, stopDaemon = context.WithCancel(ctx)
	go func() { done <- daemon(dctx, protocols(), cfg, slog.New(slog.DiscardHandler), runOptions{}) }()
	require.Eventually(t, func() bool {
		out.Reset()
		return run([]string{"cloud", "status", "--config", cfgPath}, &out, &errOut) == exitOK
	}, 10*time.Second, 50*time.Millisecond)
	require.Contains(t, out.String(), `"cloudEnabled": false`, "the switch survives a restart")
	out.Reset()
	require.Equal(t, exitOK, run([]string{"cloud", "enable", "--config", cfgPath}, &out, &errOut))
	require.Eventually(t, func() bool {
		out.Reset()
		run([]string{"cloud", "status", "--config", cfgPath}, &out, &errOut)
		return strings.Contains(out.String(), `"state": "connected"`)
	}, 20*time.Second, 100*time.Millisecond)
	stopDaemon()
	require.NoError(t, stopped(done))
}

func twinGet(dev string) gateway.TwinGetCommand { return gateway.TwinGetCommand{DeviceID: dev} }

// TestDesiredOnSNMPD: a claimed net-snmp "display", a twin-desired location from the cloud applied with
// SNMP SET (read back with net-snmp's own snmpget), acknowledged with the $version it answers, and the
// audit entry with the old and new value.
func TestDesiredOnSNMPD(t *testing.T) {
	v := peers.Need(t, "PEERS_AMQPS_URL", "PEERS_CA", "PEERS_CLIENT_CERT", "PEERS_CLIENT_KEY",
		"PEERS_SNMPD_ADDR", "PEERS_SNMPD_RO_COMMUNITY", "PEERS_SNMPD_RW_COMMUNITY")
	addr := v[4]
	snmpget := func() string {
		return peers.SNMPGet(t, addr, v[5], "1.3.6.1.2.1.1.6.0")
	}
	peers.Lock(t, "snmpd-syslocation") // TestSNMPDWrite (drivers/snmp, another process) changes it too
	orig := snmpget()
	t.Cleanup(func() {
		exec.Command("snmpset", "-v2c", "-c", v[6], addr, "1.3.6.1.2.1.1.6.0", "s", orig).Run()
	})
	q := uplink.NewMessageID()[:10]
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "edgegw.toml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(fmt.Sprintf(`[gateway]
id = "gw-set"
state_dir = "state"
[[discovery.snmp]]
targets = [%q]
community = %q
write_community = %q
[polling]
interval = "1s"
%s`, addr, v[5], v[6], cloudTOML(v, "/queue/set-up-"+q, "/queue/set-down-"+q))), 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	startDaemon(t, ctx, cfgPath)

	var out, errOut bytes.Buffer
	var rows []discovered
	require.Equal(t, exitOK, run([]string{"discover", "--json", "--target", "snmp://" + v[5] + "@" + addr}, &out, &errOut), errOut.String())
	require.NoError(t, json.Unmarshal(out.Bytes(), &rows))
	dev, mac := rows[0].ID, rows[0].MAC
	require.Eventually(t, func() bool {
		out.Reset()
		return run([]string{"claim", "add", "--mac", mac, "--serial", "sn-dp55-000123", "--config", cfgPath}, &out, &errOut) == exitOK &&
			strings.Contains(out.String(), "claimed")
	}, 45*time.Second, 200*time.Millisecond, "%s %s", &out, &errOut) // a first pass that missed snmpd is repeated after 10 s

	// The cloud sets the location.
	cloud := newCloudSide(t, ctx, v[:4], "/queue/set-up-"+q, "/queue/set-down-"+q)
	want := "rack-" + q[:6]
	res := cloud.desired("gw-set", dev, 7, map[string]gateway.Value{"location": gateway.String(want)})
	require.Equal(t, int64(7), res.Version)
	require.Equal(t, gateway.DesiredApplied, res.Properties["location"].Status, res.Properties["location"].Reason)
	require.Equal(t, want, res.Properties["location"].Value.Str)
	require.Equal(t, want, snmpget(), "net-snmp itself reports the new location")

	out.Reset()
	require.Equal(t, exitOK, run([]string{"audit", "--json", "--device", dev, "--config", cfgPath}, &out, &errOut), errOut.String())
	var audit []gateway.AuditEntry
	require.NoError(t, json.Unmarshal(out.Bytes(), &audit))
	var change *gateway.AuditEntry
	for i := range audit {
		if audit[i].Action == "setting changed" {
			change = &audit[i]
		}
	}
	require.NotNil(t, change, "audit: %+v", audit)
	require.Equal(t, orig, change.Old)
	require.Equal(t, want, change.New)
	require.Equal(t, "cloud", change.By)
	require.Equal(t, "location", change.Detail)
}

// cloudSide plays the cloud in daemon tests: a receiver on the gateway's up-address and a sender to its
// down-address, on the real broker.
type cloudSide struct {
	t    *testing.T
	ctx  context.Context
	in   *uplink.Inbox
	send *amqp.Sender
	n    int
}

// newCloudSide connects to the broker with v = url, ca, cert, key (peers.env's PEERS_AMQPS_URL, ...).
func newCloudSide(t *testing.T, ctx context.Context, v []string, up, down string) *cloudSide {
	t.Helper()
	conn, err := uplink.Dial(ctx, uplink.DialConfig{URL: v[0], CAFile: v[1], CertFile: v[2], KeyFile: v[3]})
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	sess, err := conn.NewSession(ctx, nil)
	require.NoError(t, err)
	in, err := uplink.OpenInbox(ctx, sess, up, 64)
	require.NoError(t, err)
	send, err := sess.NewSender(ctx, down, &amqp.SenderOptions{TargetDurability: amqp.DurabilityUnsettledState})
	require.NoError(t, err)
	return &cloudSide{t: t, ctx: ctx, in: in, send: send}
}

// desired sends a twin-desired command and returns the gateway's result, which must be ok.
func (c *cloudSide) desired(gatewayID, dev string, version int64, values map[string]gateway.Value) gateway.DesiredResult {
	c.t.Helper()
	c.n++
	id := fmt.Sprintf("desired-%d", c.n)
	body, err := protocol.EncodeCommand(gateway.DesiredCommand{DeviceID: dev, Version: version, Desired: values})
	require.NoError(c.t, err)
	require.NoError(c.t, c.send.Send(c.ctx, protocol.Envelope{Kind: protocol.KindTwinDesired, GatewayID: gatewayID, MessageID: id,
		Created: time.Now(), Body: body}.AMQP(), nil))
	e := c.await(func(e protocol.Envelope) bool { return e.CorrelationID == id })
	require.Equal(c.t, "twin-desired-result", e.Kind)
	var r protocol.Result
	require.NoError(c.t, json.Unmarshal(e.Body, &r))
	require.True(c.t, r.OK, r.Error)
	var res gateway.DesiredResult
	require.NoError(c.t, json.Unmarshal(r.Result, &res))
	return res
}

// await receives (and accepts) messages from the gateway until one satisfies ok.
func (c *cloudSide) await(ok func(protocol.Envelope) bool) protocol.Envelope {
	c.t.Helper()
	for {
		m, err := c.in.Receive(c.ctx)
		require.NoError(c.t, err)
		require.NoError(c.t, c.in.Accept(c.ctx, m))
		e, err := protocol.FromAMQP(m)
		require.NoError(c.t, err)
		if ok(e) {
			return e
		}
	}
}

// startDaemon loads the configuration at cfgPath and runs the daemon until the test ends, with the
// build's protocols or the ones given.
func startDaemon(t *testing.T, ctx context.Context, cfgPath string, with ...protoSet) *config.Config {
	t.Helper()
	ps := protocols()
	if len(with) > 0 {
		ps = with[0]
	}
	cfg, err := config.Load(cfgPath, ps.tableCodecs()...)
	require.NoError(t, err)
	dctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- daemon(dctx, ps, cfg, slog.New(slog.DiscardHandler), runOptions{}) }()
	t.Cleanup(func() {
		stop()
		if err := stopped(done); err != nil {
			t.Error(err)
		}
	})
	return cfg
}

// cloudTOML is a [cloud] table for RabbitMQ with v = url, ca, cert, key, sending to up and listening on
// down.
func cloudTOML(v []string, up, down string) string {
	return fmt.Sprintf(`[cloud]
enabled = true
url = %q
ca_file = %q
cert_file = %q
key_file = %q
up_address = %q
down_address = %q
`, v[0], v[1], v[2], v[3], up, down)
}
