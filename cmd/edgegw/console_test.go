package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/config"
	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/internal/peers"
	"github.com/edgegw/edgegw/sim"
	"github.com/edgegw/edgegw/uplink"
)

// TestConsoleToDaemon drives a running daemon from the cloud side with the real edgegw-console over
// the real RabbitMQ: a claim (a wrong serial refused, the right one claimed), a profile method
// (reboot: an SNMP SET on the simulated display, whose sysUpTime then starts again, read with
// net-snmp's snmpget), refresh, a group move, and logs-upload returning the audit trail of it all.
func TestConsoleToDaemon(t *testing.T) {
	v := peers.Need(t, "PEERS_AMQPS_URL", "PEERS_CA", "PEERS_CLIENT_CERT", "PEERS_CLIENT_KEY")
	if _, err := exec.LookPath("snmpget"); err != nil {
		peers.Need(t, "PEERS_SNMPGET_MISSING") // fails in CI, skips elsewhere, with the name of what is missing
	}
	site, err := sim.Start(t.Context(), sim.Options{N: 1, BasePort: 0})
	require.NoError(t, err)
	defer site.Close()
	dev := site.Devices()[0]
	devID := "mac-" + strings.ReplaceAll(dev.MAC, ":", "")

	dir := t.TempDir()
	console := filepath.Join(dir, "edgegw-console")
	out, err := exec.Command("go", "build", "-o", console, "github.com/edgegw/edgegw/cmd/edgegw-console").CombinedOutput()
	require.NoError(t, err, string(out))

	q := uplink.NewMessageID()[:10]
	cloud := fmt.Sprintf(`[cloud]
url = %q
ca_file = %q
cert_file = %q
key_file = %q
up_address = "/queue/con-up-%s"
down_address = "/queue/con-down-%s-{gateway_id}"
`, v[0], v[1], v[2], v[3], q, q)
	cfgPath := filepath.Join(dir, "edgegw.toml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(fmt.Sprintf(`[gateway]
id = "gw-con"
state_dir = "state"
[[discovery.snmp]]
targets = [%q]
timeout = "500ms"
retries = 1
write_community = "private"
[polling]
interval = "2s"
%senabled = true
health_interval = "2s"
`, dev.Addr.String(), cloud)), 0o600))
	consoleCfg := filepath.Join(dir, "console.toml")
	require.NoError(t, os.WriteFile(consoleCfg, []byte(cloud), 0o600))
	cfg, err := config.Load(cfgPath, protocols().tableCodecs()...)
	require.NoError(t, err)

	done := make(chan error, 1)
	dctx, stop := context.WithCancel(t.Context())
	go func() { done <- daemon(dctx, protocols(), cfg, slog.New(slog.DiscardHandler), runOptions{}) }()
	defer func() {
		stop()
		if err := stopped(done); err != nil {
			t.Error(err)
		}
	}()

	con := func(args ...string) (int, string) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // each waits 10 s at most for its answer
		defer cancel()
		b, err := exec.CommandContext(ctx, console, append([]string{"--config", consoleCfg}, args...)...).CombinedOutput()
		require.NoError(t, ctx.Err(), "edgegw-console %s did not end: %s", strings.Join(args, " "), b)
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err)
		}
		return code, string(b)
	}

	// A wrong serial is refused with the reason; nothing is claimed.
	var code int
	var text string
	require.Eventually(t, func() bool {
		code, text = con("claim", "--gateway", "gw-con", "--mac", strings.ToUpper(dev.MAC), "--serial", "WRONG-1", "--wait", "10s")
		return strings.Contains(text, "rejected") || strings.Contains(text, "does not match")
	}, 40*time.Second, 500*time.Millisecond, "the device is discovered and the claim checked: %d %s", code, text)
	require.Equal(t, 1, code, text)
	require.Contains(t, text, "the serial does not match")
	require.NotContains(t, text, dev.Serial, "the device's real serial is never revealed")

	code, text = con("claim", "--gateway", "gw-con", "--mac", dev.MAC, "--serial", strings.ToLower(dev.Serial), "--group", "Lobby", "--wait", "10s")
	require.Equal(t, 0, code, text)
	require.Contains(t, text, `"claimed"`)

	// reboot: the profile's method, an SNMP SET of the display's restart object.
	uptime := func() int64 {
		b, err := exec.Command("snmpget", "-v2c", "-c", "public", "-Oqvt", dev.Addr.String(), "1.3.6.1.2.1.1.3.0").Output()
		require.NoError(t, err)
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		require.NoError(t, err, string(b))
		return n
	}
	require.Greater(t, uptime(), int64(3600*100), "the simulated display has been up for over an hour")
	code, text = con("method", "--gateway", "gw-con", "--device", devID, "reboot", "--wait", "10s")
	require.Equal(t, 0, code, text)
	require.Contains(t, text, `"done"`)
	require.Less(t, uptime(), int64(60*100), "sysUpTime starts again after the reboot")

	code, text = con("method", "--gateway", "gw-con", "--device", devID, "refresh", "--wait", "10s")
	require.Equal(t, 0, code, text)
	code, text = con("method", "--gateway", "gw-con", "--device", devID, "selfDestruct", "--wait", "10s")
	require.Equal(t, 1, code, text)
	require.Contains(t, text, `has no method "selfDestruct" (it has: refresh, reboot)`)

	// A claim again with another group is a move.
	code, text = con("claim", "--gateway", "gw-con", "--mac", dev.MAC, "--serial", dev.Serial, "--group", "Board room", "--wait", "10s")
	require.Equal(t, 0, code, text)

	// logs-upload: the audit trail of all of the above, and the daemon's own log lines.
	code, text = con("logs", "--gateway", "gw-con", "--since", "10m", "--wait", "10s")
	require.Equal(t, 0, code, text)
	var logs LogsUpload
	// The answer's JSON, then maybe the console's note on stderr of messages it dropped while waiting.
	require.NoError(t, json.NewDecoder(strings.NewReader(text[strings.Index(text, "{"):])).Decode(&logs), text)
	var actions []string
	for _, e := range logs.Audit {
		if e.DeviceID == devID {
			actions = append(actions, e.Action+":"+e.New)
		}
	}
	require.Subset(t, actions, []string{"claim rejected:" + gateway.ClaimRejected, "claimed:" + gateway.ClaimClaimed,
		"method invoked:reboot", "method invoked:refresh", "moved to another group:Board room"}, "%v", actions)
	require.NotEmpty(t, logs.Logs)
	require.Contains(t, strings.Join(logs.Logs, "\n"), "edgegw started")
	for _, l := range logs.Logs {
		require.NotContains(t, l, "private", "no community in the uploaded logs")
	}
}
