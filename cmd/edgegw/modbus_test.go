package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/internal/peers"
	"github.com/edgegw/edgegw/uplink"
	"github.com/edgegw/edgegw/uplink/protocol"
)

// em100Regs is an ACME EM100 register map (drivers/profile/profiles/acme-modbus.toml) for pymodbus:
// settings, identity (serial, MAC) and measurements.
func em100Regs(t *testing.T, serial string, mac [6]byte) string {
	str := func(s string, n int) []uint16 {
		b := make([]byte, 2*n)
		copy(b, s)
		w := make([]uint16, n)
		for i := range w {
			w[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		}
		return w
	}
	hr := []uint16{100, 1, 0, 5000, 0x4370, 0} // ctRatio 100, displayMode energy, powerLimit 5000 W, alarm 240 V
	hr = append(hr, 0, 0)
	hr = append(hr, str("Meter 1", 8)...)
	hr = append(hr, make([]uint16, 4)...) // 16..19
	hr = append(hr, 0)                    // 20: reboot
	return peers.WriteRegs(t, map[string]map[uint16][]uint16{
		"hr": {0: hr, 100: str(serial, 8), 110: {uint16(mac[0])<<8 | uint16(mac[1]), uint16(mac[2])<<8 | uint16(mac[3]), uint16(mac[4])<<8 | uint16(mac[5])}},
		"ir": {0: {0x4366, 0x8000, 0x40A0, 0, 0x448F, 0xC000, 0, 0, 0, 12345, 215, 5000, 100, 0}}, // 230.5 V, 5 A, 1150 W
	})
}

// TestModbusDaemon: a Modbus meter (pymodbus serving the EM100 map with the EM100's function 43
// identity) claimed by MAC and serial through the daemon, its readings in the twin, settings changed
// from the cloud over RabbitMQ written with functions 6 and 16 and checked with mbpoll, a refused
// out-of-range setting that leaves the device untouched, a method, and the audit trail.
func TestModbusDaemon(t *testing.T) {
	v := peers.Need(t, "PEERS_AMQPS_URL", "PEERS_CA", "PEERS_CLIENT_CERT", "PEERS_CLIENT_KEY")
	if _, err := exec.LookPath("mbpoll"); err != nil {
		peers.Need(t, "PEERS_MBPOLL_MISSING")
	}
	mac := [6]byte{0x02, 0x4d, 0x42, 0x00, 0x00, 0x2a}
	srv := peers.StartModbus(t, peers.ModbusOptions{Regs: []string{em100Regs(t, "PYM-EM100-000042", mac)}, Vendor: "ACME", Product: "EM100",
		Revision: "2.1.0"})
	dev := "mac-024d4200002a"

	q := uplink.NewMessageID()[:10]
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "edgegw.toml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(fmt.Sprintf(`[gateway]
id = "gw-mb"
state_dir = "state"
[[discovery.modbus]]
targets = [%q]
unit_ids = [1]
timeout = "1s"
[polling]
interval = "1s"
%s`, srv.Addr, cloudTOML(v, "/queue/mb-up-"+q, "/queue/mb-down-"+q))), 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cloud := newCloudSide(t, ctx, v[:4], "/queue/mb-up-"+q, "/queue/mb-down-"+q)
	startDaemon(t, ctx, cfgPath)

	cli := func(args ...string) (int, string) {
		var out, errOut bytes.Buffer
		code := run(append(args, "--config", cfgPath), &out, &errOut)
		return code, out.String() + errOut.String()
	}
	var code int
	var text string
	require.Eventually(t, func() bool {
		code, text = cli("claim", "add", "--mac", "02-4D-42-00-00-2A", "--serial", "PYM-EM100-999999")
		return strings.Contains(text, "rejected")
	}, 20*time.Second, 200*time.Millisecond, "discovered, then the wrong serial refused: %d %s", code, text)
	require.Equal(t, exitFailure, code, text)
	code, text = cli("claim", "add", "--mac", "02:4d:42:00:00:2a", "--serial", "pym-em100-000042", "--group", "Plant")
	require.Equal(t, exitOK, code, text)
	require.Contains(t, text, "claimed")

	// The full twin goes up on claim, with the identity read over Modbus.
	e := cloud.await(func(e protocol.Envelope) bool { return e.Kind == "twin-full" && e.DeviceID == dev })
	var full protocol.TwinFull
	require.NoError(t, json.Unmarshal(e.Body, &full))
	twin := full.Twin
	require.Equal(t, "ACME", twin.Identity.Manufacturer)
	require.Equal(t, "EM100", twin.Identity.Model)
	require.Equal(t, "2.1.0", twin.Identity.Firmware)
	require.Equal(t, "PYM-EM100-000042", twin.Identity.Serial)
	require.Equal(t, []string{"modbus"}, twin.Identity.Protocols)
	require.Equal(t, "acme-em100", twin.Profile)
	e = cloud.await(func(e protocol.Envelope) bool {
		return e.Kind == "telemetry" && e.DeviceID == dev && strings.Contains(string(e.Body), `"powerWatts":1150`)
	})
	require.Contains(t, string(e.Body), `"voltageVolts":230.5`, "readings polled and sent up")

	res := cloud.desired("gw-mb", dev, 3, map[string]gateway.Value{"ctRatio": gateway.Number(250),
		"displayMode": gateway.String("cycle"), "meterName": gateway.String("Plant room"), "powerLimitWatts": gateway.Number(-1500)})
	for _, name := range []string{"ctRatio", "displayMode", "meterName", "powerLimitWatts"} {
		require.Equal(t, gateway.DesiredApplied, res.Properties[name].Status, "%s: %s", name, res.Properties[name].Reason)
	}
	require.Equal(t, gateway.String("Plant room"), *res.Properties["meterName"].Value)
	// mbpoll, a client nobody here wrote, sees the registers: 250, 2, -1500 as i32, "Plant room".
	out := mbpollHR(t, srv.Addr, 0, 12)
	for _, w := range []string{"[0]: \t0x00FA", "[1]: \t0x0002", "[2]: \t0xFFFF", "[3]: \t0xFA24", "[8]: \t0x506C", "[9]: \t0x616E"} {
		require.Contains(t, out, w, out)
	}

	res = cloud.desired("gw-mb", dev, 4, map[string]gateway.Value{"ctRatio": gateway.Number(9000), "tamperAlarm": gateway.Bool(true)})
	require.Equal(t, gateway.DesiredRejected, res.Properties["ctRatio"].Status)
	require.Contains(t, res.Properties["ctRatio"].Reason, "above the maximum 5000")
	require.Equal(t, gateway.DesiredRejected, res.Properties["tamperAlarm"].Status)
	require.Contains(t, mbpollHR(t, srv.Addr, 0, 1), "[0]: \t0x00FA", "a refused setting is not written")

	code, text = cli("audit", "--json", "--device", dev)
	require.Equal(t, exitOK, code, text)
	var audit []gateway.AuditEntry
	require.NoError(t, json.Unmarshal([]byte(text), &audit))
	changes := map[string][2]string{}
	for _, a := range audit {
		if a.Action == "setting changed" {
			changes[a.Detail] = [2]string{a.Old, a.New}
		}
	}
	require.Equal(t, [2]string{"100", "250"}, changes["ctRatio"])
	require.Equal(t, [2]string{"energy", "cycle"}, changes["displayMode"])
	require.Equal(t, [2]string{"Meter 1", "Plant room"}, changes["meterName"])
}

// mbpollHR reads n holding registers from first with mbpoll, as hex.
func mbpollHR(t *testing.T, addr string, first, n int) string {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	out, err := exec.Command("mbpoll", "-m", "tcp", "-p", port, "-a", "1", "-0", "-1", "-o", "2", "-t", "4:hex",
		"-r", fmt.Sprint(first), "-c", fmt.Sprint(n), host).CombinedOutput()
	require.NoError(t, err, "%s", out)
	return string(out)
}
