package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/config"
	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/gateway/store"
	"github.com/edgegw/edgegw/internal/peers"
	"github.com/edgegw/edgegw/sim"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestExitCodesAndHelp(t *testing.T) {
	cases := []struct {
		args []string
		code int
		out  string
	}{
		{nil, exitUsage, ""},
		{[]string{"--help"}, exitOK, "Usage"},
		{[]string{"bogus"}, exitUsage, ""},
		{[]string{"version"}, exitOK, "edgegw "},
		{[]string{"run", "--help"}, exitOK, "--config"},
		{[]string{"discover", "--help"}, exitOK, "--target"},
		{[]string{"config", "check", "--help"}, exitOK, "--config"},
		{[]string{"version", "--help"}, exitOK, "edgegw version"},
		{[]string{"run"}, exitUsage, ""},
		{[]string{"run", "--nope"}, exitUsage, ""},
		{[]string{"discover"}, exitUsage, ""},
		{[]string{"discover", "--target", "http://x"}, exitUsage, ""},
		{[]string{"config"}, exitUsage, ""},
		{[]string{"config", "check"}, exitUsage, ""},
		{[]string{"config", "check", "--config", "/nonexistent/edgegw.toml"}, exitFailure, ""},
		{[]string{"status"}, exitUsage, ""},
		{[]string{"status", "--config", "/nonexistent/edgegw.toml"}, exitFailure, ""},
		{[]string{"admin"}, exitUsage, ""},
		{[]string{"admin", "rotate"}, exitUsage, ""},
		{[]string{"admin", "token"}, exitUsage, ""},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, "_"), func(t *testing.T) {
			code, out, _ := runCLI(c.args...)
			require.Equal(t, c.code, code)
			require.Contains(t, out, c.out)
		})
	}
}

func TestConfigCheck(t *testing.T) {
	code, out, _ := runCLI("config", "check", "--config", "../../config.example.toml")
	require.Equal(t, exitOK, code, out)
	require.Equal(t, "ok\n", out)

	dir := t.TempDir()
	bad := filepath.Join(dir, "edgegw.toml")
	require.NoError(t, os.WriteFile(bad, []byte("[gateway]\nid = \"gw\"\n[discovery]\ninterval = \"15m\"\n[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\ntimeout = \"5x\"\n"), 0o600))
	code, out, _ = runCLI("config", "check", "--config", bad)
	require.Equal(t, exitFailure, code)
	require.Contains(t, out, "edgegw.toml:7:11: discovery.snmp[0].timeout: \"5x\" is not a duration")

	secret := filepath.Join(dir, "community")
	require.NoError(t, os.WriteFile(secret, []byte("s3cret-community\n"), 0o644))
	good := filepath.Join(dir, "ok.toml")
	require.NoError(t, os.WriteFile(good, []byte("[gateway]\nid = \"gw\"\n[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\ncommunity_file = \"community\"\n"), 0o600))
	code, out, _ = runCLI("config", "check", "--config", good)
	require.Equal(t, exitOK, code, out)
	require.Contains(t, out, "readable by others")
	require.NotContains(t, out, "s3cret-community")
}

// TestDiscoverSNMPD is the acceptance check: discover against the real net-snmp agent prints
// the serial and model it was configured with (scripts/peers/snmpd.conf).
func TestDiscoverSNMPD(t *testing.T) {
	v := peers.Need(t, "PEERS_SNMPD_ADDR", "PEERS_SNMPD_RO_COMMUNITY")
	code, out, errOut := runCLI("discover", "--json", "--target", "snmp://"+v[1]+"@"+v[0])
	require.Equal(t, exitOK, code, errOut)
	var rows []map[string]string
	require.NoError(t, json.Unmarshal([]byte(out), &rows))
	require.Len(t, rows, 1)
	keys := []string{}
	for k := range rows[0] {
		keys = append(keys, k)
	}
	require.ElementsMatch(t, []string{"id", "protocol", "address", "manufacturer", "model", "serial", "firmware", "mac", "hostname", "profile"}, keys)
	require.Equal(t, "SN-DP55-000123", rows[0]["serial"])
	require.Equal(t, "DP55", rows[0]["model"])
	require.Equal(t, "ACME", rows[0]["manufacturer"])
	require.Equal(t, "display-01", rows[0]["hostname"])
	require.Equal(t, v[0], rows[0]["address"])

	// A wrong community is an error for that target, exit 1, and the good one is still printed.
	code, out, errOut = runCLI("discover", "--json", "--target", "snmp://"+v[1]+"@"+v[0], "--target", "snmp://wrong-community@"+v[0])
	require.Equal(t, exitFailure, code)
	require.NoError(t, json.Unmarshal([]byte(out), &rows))
	require.Len(t, rows, 1)
	require.Contains(t, errOut, v[0])
	require.NotContains(t, errOut, "wrong-community", "the community is a secret")
}

// TestDiscoverModbus: discover --target modbus:// against the peers kit's pymodbus, which answers every
// unit id with function 43/14 objects from peers.env.
func TestDiscoverModbus(t *testing.T) {
	v := peers.Need(t, "PEERS_MODBUS_ADDR", "PEERS_MODBUS_VENDOR", "PEERS_MODBUS_PRODUCT", "PEERS_MODBUS_REVISION")
	code, out, errOut := runCLI("discover", "--json", "--target", "modbus://"+v[0]+"?unit=1&unit=4-5")
	require.Equal(t, exitOK, code, errOut)
	var rows []map[string]string
	require.NoError(t, json.Unmarshal([]byte(out), &rows))
	require.Len(t, rows, 3)
	for i, unit := range []string{"1", "4", "5"} {
		require.Equal(t, "modbus", rows[i]["protocol"])
		require.Equal(t, v[0]+"?unit="+unit, rows[i]["address"])
		require.Equal(t, v[1], rows[i]["manufacturer"])
		require.Equal(t, v[2], rows[i]["model"])
		require.Equal(t, v[3], rows[i]["firmware"])
	}
	// Nobody listening: an error naming the endpoint, exit 1.
	code, _, errOut = runCLI("discover", "--target", "modbus://127.0.0.1:1?unit=1")
	require.Equal(t, exitFailure, code)
	require.Contains(t, errOut, "modbus 127.0.0.1:1 unit 1: read device identification: unreachable")
}

// TestDiscoverMDNS: discover --target mdns:// inside the peers kit's client namespace finds avahi's
// display-01 once, with the identity of both its services.
func TestDiscoverMDNS(t *testing.T) {
	v := peers.Need(t, "PEERS_MDNS_NETNS", "PEERS_MDNS_IFACE", "PEERS_MDNS_SERVER_ADDR")
	if !peers.InNetns(t, v[0]) {
		return
	}
	peers.Lock(t, "avahi-services") // drivers/mdns's TestAvahi publishes a second display meanwhile
	code, out, errOut := runCLI("discover", "--json", "--target", "mdns://_pjlink._tcp?interface="+v[1]+"&timeout=1s",
		"--target", "mdns://_http._tcp?interface="+v[1])
	require.Equal(t, exitOK, code, errOut)
	var rows []map[string]string
	require.NoError(t, json.Unmarshal([]byte(out), &rows))
	require.Len(t, rows, 1, out)
	require.Equal(t, "mdns", rows[0]["protocol"])
	require.Equal(t, v[2], rows[0]["address"])
	require.Equal(t, "SN-DP55-000123", rows[0]["serial"])
	require.Equal(t, "DP55", rows[0]["model"])
	require.Equal(t, "display-01", rows[0]["hostname"])
	require.Equal(t, "acme-display-mdns", rows[0]["profile"])
	require.NotEmpty(t, rows[0]["mac"], "from the neighbour table")
	require.Equal(t, "mac-"+strings.ReplaceAll(rows[0]["mac"], ":", ""), rows[0]["id"])

	code, _, errOut = runCLI("discover", "--target", "mdns://_pjlink._tcp?interface=nosuchif0")
	require.Equal(t, exitFailure, code)
	require.Contains(t, errOut, "mdns: interface nosuchif0")
}

// TestDaemonRestartRestoresTwins runs the daemon against a simulated site, stops it as SIGTERM would,
// starts it again, and finds every twin restored before any new discovery.
func TestDaemonRestartRestoresTwins(t *testing.T) {
	ctx := t.Context()
	const community = "s3cret-community"
	site, err := sim.Start(ctx, sim.Options{N: 5, BasePort: 0, Community: community})
	require.NoError(t, err)
	defer site.Close()
	var targets []string
	for _, d := range site.Devices() {
		targets = append(targets, fmt.Sprintf("%q", d.Addr.String()))
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "edgegw.toml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(fmt.Sprintf(`[gateway]
id = "test"
state_dir = "state"
[[discovery.snmp]]
targets = [%s]
community = "%s"
timeout = "500ms"
retries = 0
[polling]
interval = "1s"
jitter = 0
`, strings.Join(targets, ", "), community)), 0o600))
	cfg, err := config.Load(cfgPath, protocols().tableCodecs()...)
	require.NoError(t, err)
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	defer func() {
		require.NotContains(t, logs.String(), community, "a secret reached the log")
		require.Contains(t, logs.String(), "device discovered")
	}()

	runFor := func(until func() bool) {
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan error)
		go func() { done <- daemon(ctx, protocols(), cfg, log, runOptions{}) }()
		deadline := time.Now().Add(30 * time.Second)
		for !until() && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		cancel()
		require.NoError(t, stopped(done))
	}
	// The daemon holds the state file; read it only while the daemon is stopped.
	twins := func() []gateway.Twin {
		db, err := store.Open(cfg.Gateway.StateDir, &store.Options{ReadOnly: true, Timeout: -1})
		if err != nil {
			return nil
		}
		defer db.Close()
		g, err := gateway.New(gateway.Options{Store: db})
		require.NoError(t, err)
		return g.Twins()
	}
	polled := 0
	runFor(func() bool { polled++; return polled > 40 }) // about 4 s: discovery and a few polls
	first := twins()
	require.Len(t, first, 5)
	byID := map[string]gateway.Twin{}
	for _, tw := range first {
		byID[tw.DeviceID] = tw
		require.Greater(t, tw.Reported.Version, int64(0), "polled at least once")
		require.NotEmpty(t, tw.Identity.Serial)
	}
	for _, d := range site.Devices() {
		id := "mac-" + strings.ReplaceAll(d.MAC, ":", "")
		require.Contains(t, byID, id)
		require.Equal(t, d.Serial, byID[id].Identity.Serial)
	}
	// Restart: twins are there at once and their versions only grow.
	polled = 0
	runFor(func() bool { polled++; return polled > 20 })
	for _, tw := range twins() {
		require.GreaterOrEqual(t, tw.Reported.Version, byID[tw.DeviceID].Reported.Version)
	}
}

// TestSimulatorServesItsProfiles discovers a simulated site with the embedded profiles and polls every
// point of the profile each device matched: the simulator and the acme profiles must agree, OID for OID.
func TestSimulatorServesItsProfiles(t *testing.T) {
	site, err := sim.Start(t.Context(), sim.Options{N: 3, BasePort: 0})
	require.NoError(t, err)
	defer site.Close()
	cfg := config.Default()
	for i, d := range site.Devices() {
		require.NoError(t, protocols().addTarget(cfg, "snmp://"+d.Addr.String(), i))
	}
	lib, err := protocols().loadProfiles(nil)
	require.NoError(t, err)
	drvs, err := protocols().newDrivers(cfg, lib, slog.New(slog.DiscardHandler), nil)
	require.NoError(t, err)
	defer drvs.Close()
	drv := drvs.pollers["snmp"]
	g, err := gateway.New(gateway.Options{Discoverers: drvs.discoverers, Profiles: lib})
	require.NoError(t, err)
	res, err := g.Discover(t.Context())
	require.NoError(t, err)
	require.Empty(t, res.Errors)
	require.Len(t, res.Sightings, 3)
	for _, s := range res.Sightings {
		require.True(t, strings.HasPrefix(s.Profile, "acme-"), s.Profile)
		require.NotEmpty(t, s.Identity.Firmware, "firmware of %s", s.Address)
		// The points the acme profiles define (enterprise 99999) and mib2's must all be served; points
		// inherited from ups-mib that the simulator leaves out (bypass, alarms) may be missing.
		var own []gateway.Point
		for _, pt := range lib.Get(s.Profile).Points {
			if a := pt.Address.String(); strings.HasPrefix(a, ".1.3.6.1.4.1.99999.") || strings.HasPrefix(a, ".1.3.6.1.2.1.1.") {
				own = append(own, pt)
			}
		}
		require.NotEmpty(t, own)
		rs, err := drv.Poll(t.Context(), s.Endpoint(), own)
		require.NoError(t, err)
		require.Len(t, rs, len(own))
		for _, r := range rs {
			require.NoError(t, r.Err, "%s %s", s.Profile, r.Name)
		}
	}
}

// TestSimulatorServesItsModbusProfiles: the simulator's Modbus devices identify themselves as the
// profiles expect (function 43 for the EM100, SunSpec for the SI3600), and every point of those
// profiles decodes; settings written through the driver read back.
func TestSimulatorServesItsModbusProfiles(t *testing.T) {
	mb, err := sim.StartModbus(t.Context(), sim.ModbusOptions{N: 2, Seed: 7})
	require.NoError(t, err)
	defer mb.Close()
	cfg := config.Default()
	for i, d := range mb.Devices() {
		require.NoError(t, protocols().addTarget(cfg, fmt.Sprintf("modbus://%s?unit=%d", d.Addr, d.Unit), i))
	}
	lib, err := protocols().loadProfiles(nil)
	require.NoError(t, err)
	drv, err := protocols().newDrivers(cfg, lib, slog.New(slog.DiscardHandler), nil)
	require.NoError(t, err)
	defer drv.Close()
	g, err := gateway.New(gateway.Options{Discoverers: drv.discoverers, Pollers: drv.pollers, Profiles: lib})
	require.NoError(t, err)
	res, err := g.Discover(t.Context())
	require.NoError(t, err)
	require.Empty(t, res.Errors)
	require.Len(t, res.Sightings, 2)
	want := map[string]sim.ModbusDevice{}
	for _, d := range mb.Devices() {
		want[fmt.Sprintf("%s?unit=%d", d.Addr, d.Unit)] = d
	}
	for _, s := range res.Sightings {
		d := want[s.Address]
		require.Equal(t, map[string]string{"EM100": "acme-em100", "SI3600": "sunspec-inverter"}[d.Model], s.Profile)
		require.Equal(t, gateway.Identity{MAC: d.MAC, Serial: d.Serial, Manufacturer: "ACME", Model: d.Model,
			Firmware: d.Firmware, IP: "127.0.0.1"}, s.Identity)
		id, _ := gateway.DeviceID(s)
		require.Equal(t, "mac-"+strings.ReplaceAll(d.MAC, ":", ""), id)
		p := lib.Get(s.Profile)
		rs, err := drv.pollers["modbus"].Poll(t.Context(), s.Endpoint(), p.Points)
		require.NoError(t, err)
		require.Len(t, rs, len(p.Points))
		for _, r := range rs {
			require.NoError(t, r.Err, "%s %s", s.Profile, r.Name)
		}
		if d.Model == "EM100" {
			w := drv.pollers["modbus"].(gateway.Writer)
			for name, v := range map[string]gateway.Value{"ctRatio": gateway.Number(400), "displayMode": gateway.String("power"),
				"powerLimitWatts": gateway.Number(-2500), "voltageAlarmVolts": gateway.Number(247.5), "meterName": gateway.String("Hall B"),
				"relayOn": gateway.Bool(true)} {
				back, err := w.Write(t.Context(), s.Endpoint(), *p.Point(name), v)
				require.NoError(t, err, name)
				require.Equal(t, v, back, name)
			}
		}
	}
}

// stopWait bounds how long a test waits for a daemon it told to stop: each part gets shutdownGrace
// in turn, then the store closes.
const stopWait = time.Minute

// stopped waits for a daemon (or gateway) run to return after it was told to stop and returns its
// error. One still running after stopWait is an error holding every goroutine's stack, so that a hang
// is named where it happens instead of ending the package at go test's timeout.
func stopped(done <-chan error) error {
	select {
	case err := <-done:
		return err
	case <-time.After(stopWait):
		buf := make([]byte, 16<<20)
		return fmt.Errorf("still running %s after it was told to stop; every goroutine:\n%s", stopWait, buf[:runtime.Stack(buf, true)])
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestOneBadDeviceStallsNoOther (EdgeX device-modbus-go #666, Telegraf #3823: one bad device stalls
// every other) runs the gateway on a simulated site where, after discovery, one device stops answering
// and one answers too late: both go offline with an error naming their address, and every other device
// keeps being polled on schedule even with only two poll workers. Formerly
// TestDeadDevicesDoNotStallOthers.
func TestOneBadDeviceStallsNoOther(t *testing.T) {
	site, err := sim.Start(t.Context(), sim.Options{N: 6, BasePort: 0})
	require.NoError(t, err)
	defer site.Close()
	cfg := config.Default()
	cfg.Polling.Concurrency, cfg.Discovery.Concurrency = 2, 2
	for i, d := range site.Devices() {
		require.NoError(t, protocols().addTarget(cfg, "snmp://"+d.Addr.String()+"?timeout=300ms&retries=0", i))
	}
	lib, err := protocols().loadProfiles(nil)
	require.NoError(t, err)
	drvs, err := protocols().newDrivers(cfg, lib, slog.New(slog.DiscardHandler), nil)
	require.NoError(t, err)
	defer drvs.Close()
	g, err := gateway.New(gateway.Options{Discoverers: drvs.discoverers,
		Pollers: drvs.pollers, Ranks: protocols().ranks(), Profiles: lib, PollInterval: time.Second,
		PollConcurrency: 2, OfflineAfter: 2, DiscoveryInterval: time.Hour})
	require.NoError(t, err)
	res, err := g.Discover(t.Context())
	require.NoError(t, err)
	require.Len(t, res.Sightings, 6)
	devs := site.Devices()
	site.SetFault(0, sim.Silent)
	site.SetFault(1, sim.Slow(2*time.Second))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- g.Run(ctx) }()
	idOf := func(d sim.Device) string { return "mac-" + strings.ReplaceAll(d.MAC, ":", "") }
	healthy := func() bool {
		for _, d := range devs[2:] {
			if tw, _ := g.Twin(idOf(d)); tw.Reported.Version < 4 {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(30 * time.Second)
	for !healthy() && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	for _, d := range devs[:2] { // by now each has missed at least two polls
		tw, _ := g.Twin(idOf(d))
		require.Equal(t, gateway.StateOffline, tw.Connectivity.State, d.Addr.String())
		require.Contains(t, tw.Connectivity.LastError, d.Addr.String())
	}
	cancel()
	require.NoError(t, stopped(done))
	for _, d := range devs[2:] {
		tw, _ := g.Twin(idOf(d))
		require.Equal(t, gateway.StateOnline, tw.Connectivity.State)
		require.GreaterOrEqual(t, tw.Reported.Version, int64(4), "polled on schedule: %s", d.Addr)
	}
}

func TestProfileCommands(t *testing.T) {
	code, out, _ := runCLI("profile", "list")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "acme-display")
	require.Contains(t, out, "mib2")
	code, out, _ = runCLI("profile", "show", "ups-mib")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "batteryChargePercent")
	code, _, errOut := runCLI("profile", "show", "no-such-profile")
	require.Equal(t, exitFailure, code)
	require.Contains(t, errOut, "no profile named")
	code, _, _ = runCLI("profile", "test")
	require.Equal(t, exitUsage, code)
	code, _, _ = runCLI("profile", "bogus")
	require.Equal(t, exitUsage, code)

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.toml"), []byte("[[profile]]\nname = \"x\"\n[[profile.point]]\nname = \"a\"\noid = \"1.3.x\"\ntype = \"int\"\n"), 0o644))
	code, _, errOut = runCLI("profile", "list", "--dir", dir)
	require.Equal(t, exitFailure, code)
	require.Contains(t, errOut, "bad.toml:5:")

	site, err := sim.Start(t.Context(), sim.Options{N: 1, BasePort: 0})
	require.NoError(t, err)
	defer site.Close()
	code, out, errOut = runCLI("profile", "test", "--target", "snmp://"+site.Devices()[0].Addr.String())
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "matched profile: acme-display")
	require.Contains(t, out, "kind display")
	require.Regexp(t, `(?m)^  serial +\S.* +\* SIM-`, out, "where the serial came from")
	require.Contains(t, out, "temperatureCelsius")
	require.Contains(t, out, "0 failed")
	code, out, _ = runCLI("profile", "test", "--json", "--profile", "acme-ups", "--target", "snmp://"+site.Devices()[0].Addr.String())
	require.Equal(t, exitFailure, code, "a display has no UPS objects")
	require.Contains(t, out, `"tested": "acme-ups"`)
}

// TestTargetURLs: --target URLs go to the driver of their scheme, which makes them a table of its own
// (each driver's tests check its URL's details); a bad one is an error that never echoes a community.
func TestTargetURLs(t *testing.T) {
	cfg := config.Default()
	require.NoError(t, protocols().addTarget(cfg, "modbus://127.0.0.1:5020?unit=1&unit=3-4&profile=eastron-sdm630&timeout=500ms", 0))
	require.NoError(t, protocols().addTarget(cfg, "modbus:///dev/ttyUSB0?unit=7&baud=9600&parity=none", 2))
	require.NoError(t, protocols().addTarget(cfg, "mdns://_pjlink._tcp?interface=veth-mdns-b", 3))
	require.NoError(t, protocols().addTarget(cfg, "snmp://c@127.0.0.1:1161?timeout=5s&retries=3", 5))
	require.NoError(t, protocols().addTarget(cfg, "mdns://_http._tcp?interface=veth-mdns-b&timeout=1s", 4))
	names := map[string][]string{}
	for proto, ts := range cfg.Discovery.Tables {
		for _, tb := range ts {
			names[proto] = append(names[proto], tb.Name())
		}
	}
	require.Equal(t, map[string][]string{"modbus": {"target[0]", "target[2]"}, "mdns": {"target[3]", "target[4]"}, "snmp": {"target[5]"}}, names)

	for _, bad := range []string{"127.0.0.1", "ftp://x", "modbus://", "modbus://127.0.0.1?unit=0", "modbus://127.0.0.1?unit=9-3",
		"modbus://127.0.0.1?slave=1", "modbus://127.0.0.1/x", "modbus://127.0.0.1?timeout=soon", "modbus:///dev/ttyUSB0?baud=123",
		"mdns://", "mdns://pjlink", "mdns://_a._tcp?iface=x", "modbus://127.0.0.0/8",
		"snmp://127.0.0.1?timeout=forever", "snmp://127.0.0.1?retries=99", "snmp://127.0.0.1?community=x",
		"snmp://", "snmp://127.0.0.1:0", "snmp://127.0.0.1:99999", "snmp://127.0.0.1/x"} {
		require.Error(t, protocols().addTarget(config.Default(), bad, 0), bad)
	}
	// Two mDNS interfaces: one browser per interface, refused when the drivers are built.
	cfg = config.Default()
	require.NoError(t, protocols().addTarget(cfg, "mdns://_a._tcp?interface=a", 0))
	require.NoError(t, protocols().addTarget(cfg, "mdns://_b._tcp?interface=b", 1))
	lib, err := protocols().loadProfiles(nil)
	require.NoError(t, err)
	_, err = protocols().newDrivers(cfg, lib, slog.New(slog.DiscardHandler), nil)
	require.ErrorContains(t, err, "two interfaces")

	// A community in a bad URL is never echoed.
	code, _, errOut := runCLI("discover", "--target", "snmp://s3cret-c0mmunity@127.0.0.1:0")
	require.Equal(t, exitUsage, code)
	require.NotContains(t, errOut, "s3cret-c0mmunity")
	require.Contains(t, errOut, "snmp://<redacted>@127.0.0.1:0")
}

// TestHelpOnce: every verb's --help prints its usage once (it used to print twice: the flag package
// prints it on -help, and so did parse) and exits 0; the top-level help names every protocol.
func TestHelpOnce(t *testing.T) {
	for _, args := range [][]string{
		{"discover", "--help"}, {"run", "--help"}, {"config", "check", "--help"}, {"claim", "add", "--help"},
		{"claim", "import", "--help"}, {"claim", "list", "--help"}, {"claim", "remove", "--help"},
		{"cloud", "enable", "--help"}, {"cloud", "disable", "--help"}, {"cloud", "status", "--help"},
		{"audit", "--help"}, {"profile", "list", "--help"}, {"profile", "test", "--help"}, {"version", "--help"},
		{"status", "--help"}, {"admin", "--help"}, {"admin", "token", "--help"},
	} {
		code, out, errOut := runCLI(args...)
		require.Equal(t, exitOK, code, "%v: %s", args, errOut)
		require.Equal(t, 1, strings.Count(out, "Usage:"), "%v printed:\n%s", args, out)
	}
	_, out, _ := runCLI("--help")
	for _, p := range []string{"SNMP", "Modbus", "mDNS"} {
		require.Contains(t, out, p)
	}
}
