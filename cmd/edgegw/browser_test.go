//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/admin"
	"github.com/edgegw/edgegw/config"
	"github.com/edgegw/edgegw/internal/peers"
	"github.com/edgegw/edgegw/uplink"
)

// chromium finds Debian's chromium (scripts/peers/peers.sh install puts it there). Missing, the test
// fails where every peer is required (CI, make test) and skips elsewhere.
func chromium(t *testing.T) string {
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	msg := "chromium is not installed (scripts/peers/peers.sh install, as root, installs Debian's chromium)"
	if peers.InCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// artifacts is where the test's screenshots go: $EDGEGW_ARTIFACTS/NAME when set, else a directory of
// that name under the system's temp dir, replaced at each run. The test prints it.
func artifacts(t *testing.T) string {
	base := os.Getenv("EDGEGW_ARTIFACTS")
	if base == "" {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "edgegw-"+t.Name())
	require.NoError(t, os.RemoveAll(dir))
	require.NoError(t, os.MkdirAll(dir, 0o755))
	t.Logf("screenshots in %s", dir)
	return dir
}

// brokerConns lists the TCP connections of this process (the daemon runs in it) to port: /proc/net/tcp
// and tcp6 (the socket table) matched against the process's own socket inodes, so that connections of
// other programs on this machine to the same broker do not count. TIME_WAIT leftovers, which belong to
// no process, do not count either: they are closed connections.
func brokerConns(t *testing.T, port int) []string {
	t.Helper()
	mine := map[string]bool{}
	fds, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	for _, fd := range fds {
		if l, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && strings.HasPrefix(l, "socket:[") {
			mine[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	var out []string
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		require.NoError(t, err)
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) < 10 {
				continue
			}
			_, rport, _ := strings.Cut(fs[2], ":")
			p, _ := strconv.ParseUint(rport, 16, 16)
			if int(p) == port && mine[fs[9]] && fs[3] != "0A" { // 0A: LISTEN
				out = append(out, fmt.Sprintf("%s %s -> %s state %s inode %s", table, fs[1], fs[2], fs[3], fs[9]))
			}
		}
		f.Close()
	}
	return out
}

// TestBrowser drives the admin page in headless Chromium against the daemon on a simulated site, with
// the uplink to the real RabbitMQ: log in, the overview, the devices, one device claimed from its page,
// a CSV uploaded, the cloud switched off with its confirmation. With the cloud off, the socket table
// holds no connection of the daemon to the broker, also after a restart. A screenshot of each page is
// kept (the test prints where).
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("the browser test runs in the full pass (make test), not with -short")
	}
	v := peers.Need(t, "PEERS_AMQPS_URL", "PEERS_CA", "PEERS_CLIENT_CERT", "PEERS_CLIENT_KEY")
	bin := chromium(t)
	shots := artifacts(t)
	bu, err := url.Parse(v[0])
	require.NoError(t, err)
	brokerPort, err := strconv.Atoi(bu.Port())
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	site, targets := simSite(t, ctx, 6)
	q := uplink.NewMessageID()[:10]
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "edgegw.toml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(fmt.Sprintf(`[gateway]
id = "gw-web"
state_dir = "state"
[[discovery.snmp]]
targets = [%s]
timeout = "500ms"
retries = 0
[polling]
interval = "1s"
[admin]
listen = "127.0.0.1:0"
%shealth_interval = "1s"
`, targets, cloudTOML(v, "/queue/web-up-"+q, "/queue/web-down-"+q))), 0o600))
	cfg, err := config.Load(cfgPath, protocols().tableCodecs()...)
	require.NoError(t, err)

	start := func() (stop func()) {
		dctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- daemon(dctx, protocols(), cfg, slog.New(slog.DiscardHandler), runOptions{}) }()
		return func() {
			cancel()
			require.NoError(t, stopped(done))
		}
	}
	status := func() admin.Status {
		out, err := adminCall(cfg.Gateway.StateDir, "GET", "/api/status", nil)
		if err != nil {
			return admin.Status{}
		}
		var st admin.Status
		require.NoError(t, json.Unmarshal(out, &st))
		return st
	}
	stop := start()
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	require.Eventually(t, func() bool {
		st := status()
		return st.Inventory.Devices == 6 && st.Admin.Address != "" && st.Uplink.State == "connected"
	}, 30*time.Second, 100*time.Millisecond, "the daemon discovers the site and connects")
	base := "http://" + status().Admin.Address
	token, err := admin.LoadToken(cfg.Gateway.StateDir, false)
	require.NoError(t, err)
	require.NotEmpty(t, brokerConns(t, brokerPort), "connected: the socket table shows it")

	// Chromium talks to the page on loopback and nowhere else: every other host goes to a proxy that
	// does not exist and no name is resolved; its background services are off.
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 1000), chromedp.Flag("proxy-server", "http://127.0.0.1:9"),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true), chromedp.Flag("dns-prefetch-disable", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)
		})
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		require.NoError(t, err)
		return strings.TrimSpace(s)
	}
	run := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		require.NoError(t, chromedp.Do(bctx, steps...))
	}
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }

	// Log in.
	run(chromedp.Navigate(base+"/"), chromedp.WaitVisible(css("#token")), shot("1-login"),
		chromedp.SendKeys(css("#token"), token), chromedp.Click(css("#login")),
		chromedp.WaitVisible(css("#health")), shot("2-overview"))
	require.Equal(t, "healthy", text("#health"))
	require.Equal(t, "6 found", text("#device-count"))
	require.Equal(t, "connected", text("#uplink-state"))

	// The devices, from the simulator.
	run(chromedp.Navigate(base+"/devices"), chromedp.WaitVisible(css("table.devices")), shot("3-devices"))
	require.Equal(t, "1–6 of 6 devices", text("#count"))
	rows, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("table.devices tbody tr td:first-child")).map(td => td.innerText)`))
	require.NoError(t, err)
	require.Len(t, rows, 6)
	serials := map[string]string{}
	for _, d := range site.Devices() {
		serials[d.MAC] = d.Serial
	}

	// Open the first and claim it from its page.
	run(chromedp.Click(css("table.devices tbody tr:first-child td:first-child a")),
		chromedp.WaitVisible(css("#mac")))
	mac := text("#mac")
	require.Contains(t, serials, mac)
	require.Equal(t, "unclaimed", text("#claim-state"))
	run(shot("4-device"), chromedp.SendKeys(css("#serial"), serials[mac]), chromedp.Click(css("#claim")),
		chromedp.WaitVisible(css(".message")), shot("5-device-claimed"))
	require.Equal(t, "claimed", text("#claim-state"))
	require.Contains(t, text(".message"), mac+": claimed")

	// Upload a CSV of the others, one with a wrong serial and a bad row.
	var csv strings.Builder
	csv.WriteString("MAC,Serial,Group\n")
	for i, d := range site.Devices() {
		switch {
		case d.MAC == mac:
		case i == 5:
			fmt.Fprintf(&csv, "%s,WRONG-%s,Lobby\n", d.MAC, d.Serial)
		default:
			fmt.Fprintf(&csv, "%s,%s,Lobby\n", d.MAC, d.Serial)
		}
	}
	csv.WriteString("not-a-mac,x\n")
	csvPath := filepath.Join(dir, "claims.csv")
	require.NoError(t, os.WriteFile(csvPath, []byte(csv.String()), 0o644))
	run(chromedp.Navigate(base+"/claims"), chromedp.WaitVisible(css("#file")),
		chromedp.SetUploadFiles(css("#file"), []string{csvPath}), chromedp.Click(css("#upload")),
		chromedp.WaitVisible(css("#results")), shot("6-claims-uploaded"))
	msg := text(".message")
	require.Contains(t, msg, "rows: ")
	require.Contains(t, msg, "1 rejected")
	require.Contains(t, msg, "1 bad")
	require.Contains(t, text("#results"), "is not a MAC address")
	require.Equal(t, 5, status().Inventory.ByClaimState["claimed"], "one from the page, four from the CSV")

	// Turn the cloud off: the confirmation, then the uplink's state changes on the page.
	run(chromedp.Navigate(base+"/settings"), chromedp.WaitVisible(css("#cloud-off")), shot("7-settings"))
	require.Equal(t, "connected", text("#uplink-state"))
	run(chromedp.Click(css("#cloud-off")), chromedp.WaitVisible(css("#confirm")), shot("8-confirm"),
		chromedp.Click(css("#confirm")), chromedp.WaitVisible(css("#cloud-on")))
	require.Eventually(t, func() bool {
		run(chromedp.Reload(), chromedp.WaitVisible(css("#uplink-state")))
		return text("#uplink-state") == "disabled"
	}, 10*time.Second, 200*time.Millisecond)
	run(shot("9-cloud-off"))
	require.Eventually(t, func() bool { return len(brokerConns(t, brokerPort)) == 0 }, 5*time.Second, 50*time.Millisecond,
		"no connection to the broker once the cloud is off: %v", brokerConns(t, brokerPort))

	// The phone-sized overview.
	run(chromedp.EmulateViewport(390, 844), chromedp.Navigate(base+"/"), chromedp.WaitVisible(css("#health")), shot("10-overview-phone"))

	// Restart: still off, and no connection to the broker while it runs (long enough for a dial and the
	// TLS handshake to show up: the uplink starts within milliseconds when it is on).
	stop()
	stop = nil
	stop = start()
	require.Eventually(t, func() bool { return status().GatewayID != "" }, 10*time.Second, 50*time.Millisecond)
	st := status()
	require.False(t, st.CloudEnabled, "the switch survives a restart")
	require.Equal(t, "disabled", st.Uplink.State)
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		require.Empty(t, brokerConns(t, brokerPort), "after a restart with the cloud off")
	}
}
