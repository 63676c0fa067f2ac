package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/admin"
	"github.com/edgegw/edgegw/cmd/edgegw/testdata/echo"
	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/internal/peers"
	"github.com/edgegw/edgegw/uplink"
	"github.com/edgegw/edgegw/uplink/protocol"
)

// TestProtocolIsOneFolder adds a protocol that exists only in this test (testdata/echo: one folder)
// with one line, and runs it through the real daemon: its [[discovery.echo]] table and profile section
// are read strictly like every other, its device is discovered, claimed, polled into a twin that goes
// up to RabbitMQ, and a setting from the cloud is written to it and audited; a refusal carries the
// driver's hint.
func TestProtocolIsOneFolder(t *testing.T) {
	v := peers.Need(t, "PEERS_AMQPS_URL", "PEERS_CA", "PEERS_CLIENT_CERT", "PEERS_CLIENT_KEY")
	ps := append(protocols(), echo.Spec()) // the one line

	dir := t.TempDir()
	prof := filepath.Join(dir, "profiles")
	require.NoError(t, os.Mkdir(prof, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(prof, "echo.toml"), []byte(`[[profile]]
name = "echo-box"
protocol = "echo"
kind = "display"
[profile.match]
models = ["EB1"]
[[profile.point]]
name = "volume"
key = "vol"
writable = true
max_len = 8
[[profile.point]]
name = "firmwareLock"
key = "ro-lock"
writable = true
`), 0o644))
	// The protocol's keys are checked like any other: a typo is an error with its position.
	bad := filepath.Join(dir, "bad")
	require.NoError(t, os.Mkdir(bad, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(bad, "b.toml"), []byte("[[profile]]\nname = \"b\"\nprotocol = \"echo\"\n[[profile.point]]\nname = \"v\"\nkeey = \"x\"\n"), 0o644))
	_, err := ps.loadProfiles([]string{bad})
	require.ErrorContains(t, err, "b.toml:4:1: profile[0].point[0]: point \"v\" has no key")
	require.ErrorContains(t, err, "b.toml:6:1: profile[0].point[0].keey: unknown key; did you mean key?")

	q := uplink.NewMessageID()[:10]
	cfgPath := filepath.Join(dir, "edgegw.toml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(fmt.Sprintf(`[gateway]
id = "gw-echo"
state_dir = "state"
[[discovery.echo]]
devices = [{ name = "box1", mac = "02:ec:00:00:00:01", serial = "EB-0001", model = "EB1" }]
[profiles]
dirs = [%q]
[polling]
interval = "1s"
%s`, prof, cloudTOML(v, "/queue/echo-up-"+q, "/queue/echo-down-"+q))), 0o600))
	_, err = protocols().loadConfig(cfgPath, os.Stderr)
	require.ErrorContains(t, err, "discovery.echo: unknown key", "a build without the driver refuses its table")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := startDaemon(t, ctx, cfgPath, ps)
	cloud := newCloudSide(t, ctx, v, "/queue/echo-up-"+q, "/queue/echo-down-"+q)

	require.Eventually(t, func() bool {
		out, err := adminJSON(cfg.Gateway.StateDir, "POST", "/api/claims", admin.ClaimRequest{MAC: "02:ec:00:00:00:01", Serial: "EB-0001"})
		return err == nil && strings.Contains(string(out), `"claimed"`)
	}, 20*time.Second, 100*time.Millisecond)
	dev := "mac-02ec00000001"
	full := cloud.await(func(e protocol.Envelope) bool { return e.Kind == protocol.KindTwinFull && e.DeviceID == dev })
	var tf protocol.TwinFull
	require.NoError(t, json.Unmarshal(full.Body, &tf))
	tw := tf.Twin
	require.Equal(t, []string{"echo"}, tw.Identity.Protocols)
	require.Equal(t, "echo-box", tw.Profile)
	require.Equal(t, "display", tw.Identity.Kind)

	res := cloud.desired("gw-echo", dev, 3, map[string]gateway.Value{"volume": gateway.String("loud"), "firmwareLock": gateway.String("off")})
	require.Equal(t, gateway.DesiredApplied, res.Properties["volume"].Status, res.Properties["volume"].Reason)
	require.Equal(t, "loud", res.Properties["volume"].Value.Str)
	require.Equal(t, gateway.DesiredFailed, res.Properties["firmwareLock"].Status, "the device refused it")
	require.Contains(t, res.Properties["firmwareLock"].Reason, "echo keys starting ro are read-only")
	// Polled back from the driver's memory: "loud" stays.
	out, err := adminCall(cfg.Gateway.StateDir, "GET", "/api/audit?device="+dev, nil)
	require.NoError(t, err)
	require.Contains(t, string(out), `"setting changed"`)
	require.Contains(t, string(out), `"loud"`)
}
