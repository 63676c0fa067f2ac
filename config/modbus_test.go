package config_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/drivers/modbus"
)

func TestModbusAndMDNS(t *testing.T) {
	c, err := parse("edgegw.toml", []byte(gw+`
[[discovery.modbus]]
targets = ["127.0.0.1", "127.0.0.1:5020"]
unit_ids = [1, "3-5", 247]
profile = "eastron-sdm630"
[[discovery.modbus]]
serial = "/dev/ttyUSB0"
parity = "None"
[discovery.mdns]
services = ["_pjlink._tcp", "_http._tcp.local."]
interface = "veth-mdns-b"
`))
	require.NoError(t, err)
	m := modbusTables(c)
	require.Equal(t, "127.0.0.1:502", m[0].Targets[0].String())
	require.Equal(t, "127.0.0.1:5020", m[0].Targets[1].String())
	require.Equal(t, modbus.UnitIDs{1, 3, 4, 5, 247}, m[0].UnitIDs)
	require.Equal(t, "discovery.modbus[0]", m[0].Name())
	require.Equal(t, 2*time.Second, m[0].Timeout)
	require.Equal(t, modbus.UnitIDs{1}, m[1].UnitIDs)
	require.Equal(t, "none", m[1].Parity)
	require.Equal(t, 19200, m[1].Baud)
	require.Equal(t, 8, m[1].DataBits)
	require.Equal(t, "veth-mdns-b", mdnsTable(c).Interface)
	require.Equal(t, 2*time.Second, mdnsTable(c).Timeout)

	c, err = parse("edgegw.toml", []byte(gw))
	require.NoError(t, err)
	require.Nil(t, mdnsTable(c), "no [discovery.mdns]: no browsing")
}

func TestModbusAndMDNSErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"[[discovery.modbus]]\nunit_ids = [1]\n", `discovery.modbus[0].targets: required: list Modbus TCP endpoints, or give serial for an RTU line`},
		{"[[discovery.modbus]]\ntargets = [\"127.0.0.1\"]\nserial = \"/dev/ttyS0\"\n", `edgegw.toml:5:10: discovery.modbus[0].serial: a table is either TCP targets or one serial line`},
		{"[[discovery.modbus]]\ntargets = [\"127.0.0.1\"]\nunit_ids = [0]\n", `edgegw.toml:5:13: discovery.modbus[0].unit_ids[0]: unit id 0 is out of range 1..255 (0 is broadcast, which devices never answer)`},
		{"[[discovery.modbus]]\ntargets = [\"127.0.0.1\"]\nunit_ids = [\"5-2\"]\n", `discovery.modbus[0].unit_ids[0]: range "5-2" runs backwards`},
		{"[[discovery.modbus]]\ntargets = [\"127.0.0.1\"]\nunit_ids = [2, \"1-3\"]\n", `discovery.modbus[0].unit_ids[1]: unit id 2 is listed twice`},
		{"[[discovery.modbus]]\ntargets = [\"127.0.0.1\"]\nunit_ids = []\n", `discovery.modbus[0].unit_ids: must list at least one unit id`},
		{"[[discovery.modbus]]\nserial = \"ttyUSB0\"\nbaud = 1234\nparity = \"mark\"\n", `discovery.modbus[0].serial: "ttyUSB0" is not a device path like /dev/ttyUSB0`},
		{"[[discovery.modbus]]\nserial = \"/dev/ttyUSB0\"\nbaud = 1234\n", `discovery.modbus[0].baud: 1234 is not a standard rate (1200 ... 115200)`},
		{"[[discovery.modbus]]\nserial = \"/dev/ttyUSB0\"\nparity = \"mark\"\n", `discovery.modbus[0].parity: "mark" is not one of "none", "even", "odd"`},
		{"[[discovery.modbus]]\ntargets = [\"127.0.0.0/8\"]\n", `discovery.modbus[0].targets[0]: 127.0.0.0/8 expands to`},
		{"[discovery.mdns]\ninterface = \"eth0\"\n", `discovery.mdns.services: required`},
		{"[discovery.mdns]\nservices = [\"pjlink\"]\n", `discovery.mdns.services[0]: "pjlink" is not a service type like "_pjlink._tcp"`},
		{"[discovery.mdns]\nservices = [\"_a._tcp\"]\ntimeout = \"1ms\"\n", `discovery.mdns.timeout: must be between 100ms and 30s, got 1ms`},
	} {
		_, err := parse("edgegw.toml", []byte(gw+tc.in))
		require.ErrorContains(t, err, tc.want, tc.in)
	}
}
