package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/admin"
	"github.com/edgegw/edgegw/config"
	"github.com/edgegw/edgegw/sim"
)

// TestStatusAndAdminVerbs: edgegw status (not running, degraded, healthy), admin token, and claim list
// --json with the old field name kept, against the daemon on a simulated site. The uplink points at a
// closed loopback port, so it stays down and makes the gateway degraded after degraded_after.
func TestStatusAndAdminVerbs(t *testing.T) {
	site, targets := simSite(t, t.Context(), 2)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "edgegw.toml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(fmt.Sprintf(`[gateway]
id = "gw-status"
state_dir = "state"
[[discovery.snmp]]
targets = [%s]
timeout = "500ms"
retries = 0
[cloud]
enabled = true
url = "amqps://127.0.0.1:1"
reconnect_max = "1s"
[admin]
listen = "127.0.0.1:0"
degraded_after = "1s"
`, targets)), 0o600))
	cli := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(append(args, "--config", cfgPath), &out, &errOut)
		return code, out.String(), errOut.String()
	}

	code, _, errOut := cli("status")
	require.Equal(t, exitFailure, code)
	require.Contains(t, errOut, "edgegw gw-status: not running: cannot reach the daemon")
	code, out, _ := cli("status", "--json")
	require.Equal(t, exitFailure, code)
	require.Contains(t, out, `"health": "not running"`)
	code, _, errOut = cli("admin", "token")
	require.Equal(t, exitFailure, code)
	require.Contains(t, errOut, "the daemon makes it on its first start")

	cfg, err := config.Load(cfgPath, protocols().tableCodecs()...)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- daemon(ctx, protocols(), cfg, slog.New(slog.DiscardHandler), runOptions{}) }()
	defer func() { cancel(); require.NoError(t, stopped(done)) }()

	require.Eventually(t, func() bool {
		code, out, _ = cli("status")
		return code == exitDegraded && strings.Contains(out, "devices:   2 found")
	}, 20*time.Second, 100*time.Millisecond, out)
	require.Contains(t, out, "gw-status: degraded")
	require.Contains(t, out, "problem: the cloud uplink has been down for")
	require.Contains(t, out, "connection refused")
	require.Regexp(t, `page:      http://127\.0\.0\.1:\d+/`, out)
	code, out, _ = cli("status", "--json")
	require.Equal(t, exitDegraded, code)
	var st map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	require.Equal(t, "degraded", st["health"])
	require.Equal(t, "gw-status", st["gatewayId"])

	// Switched off by the operator, the uplink is not a problem.
	code, _, errOut = cli("cloud", "disable")
	require.Equal(t, exitOK, code, errOut)
	code, out, _ = cli("status")
	require.Equal(t, exitOK, code, out)
	require.Contains(t, out, "gw-status: healthy")
	require.Contains(t, out, "uplink:    switched off")

	code, out, _ = cli("admin", "token")
	require.Equal(t, exitOK, code)
	require.Regexp(t, regexp.MustCompile(`^[0-9a-f]{64}\n$`), out)
	b, err := os.ReadFile(filepath.Join(cfg.Gateway.StateDir, "admin.token"))
	require.NoError(t, err)
	require.Equal(t, string(b), out)

	// The TCP listener: metrics and health without a token from loopback, the API with it.
	var st2 admin.Status
	body, err := adminCall(cfg.Gateway.StateDir, "GET", "/api/status", nil)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(body, &st2))
	base := "http://" + st2.Admin.Address
	resp, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Contains(t, fams, "edgegw_devices")
	require.Contains(t, fams, "edgegw_poll_duration_seconds")
	require.Equal(t, 0.0, fams["edgegw_uplink_enabled"].Metric[0].Gauge.GetValue(), "switched off")
	resp, err = http.Get(base + "/api/devices")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	code, out, _ = cli("admin", "token")
	req, _ := http.NewRequest("GET", base+"/api/devices?limit=1", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(out))
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	var list admin.DeviceList
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&list))
	resp.Body.Close()
	require.Equal(t, 2, list.Total)
	require.Len(t, list.Devices, 1)

	d := site.Devices()[0]
	code, out, errOut = cli("claim", "add", "--mac", d.MAC, "--serial", d.Serial)
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, ": claimed")
	code, out, _ = cli("claim", "list", "--json")
	require.Equal(t, exitOK, code)
	id := "mac-" + strings.ReplaceAll(d.MAC, ":", "")
	require.Contains(t, out, `"deviceId": "`+id+`"`)
	require.Contains(t, out, `"device_id": "`+id+`"`, "the old name, for one release")
	code, _, errOut = cli("claim", "add", "--mac", site.Devices()[1].MAC, "--serial", "WRONG")
	require.Equal(t, exitFailure, code, "a rejected claim exits 1")
	code, _, errOut = cli("claim", "remove", "--mac", "02:00:00:00:00:99")
	require.Equal(t, exitFailure, code)
	require.Contains(t, errOut, "daemon: no claim for 02:00:00:00:00:99")
}

// simSite starts a simulated site of n SNMP devices on loopback for the test, and returns it with its
// addresses as the inside of a TOML array of targets.
func simSite(t *testing.T, ctx context.Context, n int) (*sim.Site, string) {
	t.Helper()
	site, err := sim.Start(ctx, sim.Options{N: n, BasePort: 0})
	require.NoError(t, err)
	t.Cleanup(func() { site.Close() })
	var targets []string
	for _, d := range site.Devices() {
		targets = append(targets, fmt.Sprintf("%q", d.Addr.String()))
	}
	return site, strings.Join(targets, ", ")
}
