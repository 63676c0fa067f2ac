package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/admin"
	"github.com/edgegw/edgegw/config"
	"github.com/edgegw/edgegw/internal/peers"
	"github.com/edgegw/edgegw/internal/smallfs"
	"github.com/edgegw/edgegw/sim"
	"github.com/edgegw/edgegw/uplink"
	"github.com/edgegw/edgegw/uplink/protocol"
)

// TestDiskFullClaimAndRecovery is the issue's reproduction on a real full disk: the state dir on an
// 8 MiB tmpfs of the test's own, the cloud switched off, the disk filled. `edgegw claim add` then
// exits 1 saying the state store is full (it used to print "claimed" and exit 0 while the claim's
// audit entries and full twin were lost); polling goes on; the log and health say "state store full"
// once. Once the room is back the gateway recovers by itself: the claim goes through, and when the
// cloud is switched on it gets every claim's audit entry and full twin, a full twin newer than the
// patches the full disk lost, and never a device's patch before its full twin, nor a twin version
// going backwards.
func TestDiskFullClaimAndRecovery(t *testing.T) {
	v := peers.Need(t, "PEERS_AMQPS_URL", "PEERS_CA", "PEERS_CLIENT_CERT", "PEERS_CLIENT_KEY")
	fs := smallfs.Mount(t, 8<<20)
	site, err := sim.Start(t.Context(), sim.Options{N: 2, BasePort: 0})
	require.NoError(t, err)
	defer site.Close()
	devs := site.Devices()
	id := func(d sim.Device) string { return "mac-" + strings.ReplaceAll(d.MAC, ":", "") }
	q := uplink.NewMessageID()[:10]
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "edgegw.toml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(fmt.Sprintf(`[gateway]
id = "gw-full"
state_dir = %q
[[discovery.snmp]]
targets = [%q, %q]
timeout = "500ms"
retries = 0
[polling]
interval = "1s"
jitter = 0
[cloud]
enabled = true
url = %q
ca_file = %q
cert_file = %q
key_file = %q
up_address = "/queue/full-up-%s"
down_address = "/queue/full-down-%s-{gateway_id}"
health_interval = "1s"
`, filepath.Join(fs, "state"), devs[0].Addr.String(), devs[1].Addr.String(), v[0], v[1], v[2], v[3], q, q)), 0o600))
	cfg, err := config.Load(cfgPath, protocols().tableCodecs()...)
	require.NoError(t, err)
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- daemon(dctx, protocols(), cfg, log, runOptions{}) }()
	defer func() {
		stop()
		require.NoError(t, stopped(done))
	}()

	cli := func(args ...string) (int, string) {
		var out, errOut bytes.Buffer
		code := run(append(args, "--config", cfgPath), &out, &errOut)
		return code, out.String() + errOut.String()
	}
	status := func() protocol.Health {
		code, out := cli("cloud", "status")
		require.Equal(t, exitOK, code, out)
		var h protocol.Health
		require.NoError(t, json.Unmarshal([]byte(out), &h))
		return h
	}
	require.Eventually(t, func() bool {
		code, _ := cli("cloud", "status")
		return code == exitOK && status().Devices.Discovered == 2
	}, 30*time.Second, 100*time.Millisecond)
	code, out := cli("cloud", "disable")
	require.Equal(t, exitOK, code, out)
	code, out = cli("claim", "add", "--mac", devs[0].MAC, "--serial", devs[0].Serial)
	require.Equal(t, exitOK, code, out)
	require.Contains(t, out, "claimed")

	// The patches of devs[0] the full disk loses are newer than this; the cloud must get a full twin
	// newer than it too (the resync). That is a second full twin, or the claim's first one, if it still
	// waited in the outbox (the cloud is off) with no patch behind it, taking the resync's place.
	before, err := adminGet[admin.DeviceDetail](cfg.Gateway.StateDir, "/api/devices/"+id(devs[0]))
	require.NoError(t, err)
	filler := smallfs.Fill(t, fs, "filler", 16<<20)
	t.Logf("filled:\n%s", smallfs.Df(fs))
	polls := status().Polls
	time.Sleep(3 * time.Second) // polls, patches and twin writes fail meanwhile
	// Either the claim, its audit entry and its full twin are stored together (bbolt found the pages
	// inside its file), or the claim fails, saying why, and is not in effect. Never "claimed" without
	// them: the cloud side below checks that it gets them.
	code, out = cli("claim", "add", "--mac", devs[1].MAC, "--serial", devs[1].Serial)
	claimedWhileFull := code == exitOK
	t.Logf("claim add on the full disk: exit %d: %s", code, strings.TrimSpace(out))
	if !claimedWhileFull {
		require.Equal(t, exitFailure, code, out)
		require.Contains(t, out, "state store full")
		require.Contains(t, out, "nothing was changed")
		_, list := cli("claim", "list")
		require.NotContains(t, list, devs[1].MAC, "not in effect")
	}
	h := status()
	require.Equal(t, "full", h.Store.State)
	require.Greater(t, h.Polls, polls+2, "polling goes on")
	require.Equal(t, 1, strings.Count(logs.String(), `"msg":"state store full`), "said once, not per write")

	require.NoError(t, os.Remove(filler))
	require.Eventually(t, func() bool { return status().Store.State == "ok" }, 10*time.Second, 100*time.Millisecond)
	require.Contains(t, logs.String(), "state store writes again")
	if !claimedWhileFull {
		code, out = cli("claim", "add", "--mac", devs[1].MAC, "--serial", devs[1].Serial)
		require.Equal(t, exitOK, code, out)
	}
	time.Sleep(2 * time.Second) // a few patches of both, after the claim
	code, out = cli("cloud", "enable")
	require.Equal(t, exitOK, code, out)

	// The cloud side.
	conn, err := uplink.Dial(ctx, uplink.DialConfig{URL: v[0], CAFile: v[1], CertFile: v[2], KeyFile: v[3]})
	require.NoError(t, err)
	defer conn.Close()
	sess, err := conn.NewSession(ctx, nil)
	require.NoError(t, err)
	recv, err := sess.NewReceiver(ctx, "/queue/full-up-"+q, &amqp.ReceiverOptions{Credit: -1, SourceDurability: amqp.DurabilityUnsettledState})
	require.NoError(t, err)
	require.NoError(t, recv.IssueCredit(500))
	type seen struct {
		fulls, patches, claimedAudits int
		last                          int64
	}
	got := map[string]*seen{id(devs[0]): {last: -1}, id(devs[1]): {last: -1}}
	ids := map[string]bool{}
	var resynced bool
	for got[id(devs[0])].claimedAudits < 1 || got[id(devs[1])].claimedAudits < 1 || got[id(devs[1])].fulls < 1 ||
		!resynced || got[id(devs[1])].patches < 1 {
		rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
		m, err := recv.Receive(rctx, nil)
		rcancel()
		require.NoError(t, err, "waiting for the cloud's messages: %+v %+v", *got[id(devs[0])], *got[id(devs[1])])
		require.NoError(t, recv.AcceptMessage(ctx, m))
		require.NoError(t, recv.IssueCredit(1))
		e, err := protocol.FromAMQP(m)
		require.NoError(t, err)
		if ids[e.MessageID] {
			continue // a duplicate (at least once)
		}
		ids[e.MessageID] = true
		s := got[e.DeviceID]
		if s == nil {
			continue
		}
		switch e.Kind {
		case protocol.KindTwinFull:
			var b protocol.TwinFull
			require.NoError(t, json.Unmarshal(e.Body, &b))
			require.GreaterOrEqual(t, b.Twin.Reported.Version, s.last, "%s: a full twin older than what the cloud has", e.DeviceID)
			if e.DeviceID == id(devs[0]) && b.Twin.Reported.Version > before.Twin.Reported.Version {
				resynced = true
			}
			s.fulls++
			s.last = b.Twin.Reported.Version
		case protocol.KindTwinReported:
			var b protocol.TwinReported
			require.NoError(t, json.Unmarshal(e.Body, &b))
			require.Positive(t, s.fulls, "%s: a patch before the device's full twin", e.DeviceID)
			require.Greater(t, b.Version, s.last, "%s: twin version went backwards", e.DeviceID)
			s.patches++
			s.last = b.Version
		case protocol.KindAudit:
			var b protocol.Audit
			require.NoError(t, json.Unmarshal(e.Body, &b))
			if b.Entry.Action == "claimed" {
				s.claimedAudits++
			}
		}
	}
	t.Logf("cloud got: %s %+v, %s %+v", id(devs[0]), *got[id(devs[0])], id(devs[1]), *got[id(devs[1])])
}
