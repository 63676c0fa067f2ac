package profile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/drivers/mdns"
	"github.com/edgegw/edgegw/drivers/modbus"
	"github.com/edgegw/edgegw/gateway"
)

func TestModbusProfile(t *testing.T) {
	ps, err := Parse("m.toml", []byte(`
[[profile]]
name = "inverter"
protocol = "modbus"
kind = "meter"
[profile.match]
vendor_name = "^SMA"
sunspec_models = [1, 101]
[profile.identity]
serial = { register = "holding", address = 50, format = "string", count = 16, sunspec_model = 1 }
[[profile.point]]
name = "acPowerWatts"
register = "holding"
address = 12
format = "i16"
scale_factor = 13
sunspec_model = 101
unit = "W"
[[profile.point]]
name = "energyKwh"
register = "input"
address = 342
format = "f32"
word_order = "little"
byte_order = "little"
unit = "kWh"
[[profile.point]]
name = "relayClosed"
register = "coil"
address = 3
writable = true
[[profile.point]]
name = "limitPercent"
register = "holding"
address = 100
writable = true
min = 0
max = 100
[[profile.method]]
name = "resetEnergy"
register = "holding"
address = 200
type = "uint"
value = 1
`), testCodecs)
	require.NoError(t, err)
	p := ps[0]
	require.Equal(t, "modbus", p.Protocol)
	require.Equal(t, "^SMA", p.Match.(*modbus.Match).VendorName)
	require.Equal(t, []int{1, 101}, p.Match.(*modbus.Match).SunSpecModels)
	require.Equal(t, modbus.Register{Table: "holding", Address: 50, Format: "string", Count: 16, Model: 1}, p.Identity.(modbus.Identity)["serial"])
	sf := uint16(13)
	require.Equal(t, &modbus.Register{Table: "holding", Address: 12, Format: "i16", ScaleFactor: &sf, Model: 101}, p.Points[0].Address)
	require.Equal(t, gateway.TypeInt, p.Points[0].Type, "the type follows the format when not written")
	require.Equal(t, &modbus.Register{Table: "input", Address: 342, Format: "f32", WordOrder: "little", ByteOrder: "little"}, p.Points[1].Address)
	require.Equal(t, gateway.TypeFloat, p.Points[1].Type)
	require.Equal(t, gateway.TypeBool, p.Points[2].Type)
	require.Equal(t, "u16", p.Points[3].Address.(*modbus.Register).Format, "u16 is the default format")
	require.Equal(t, gateway.TypeUint, p.Points[3].Type)
	require.Equal(t, uint16(200), p.Methods[0].Address.(*modbus.Register).Address)
}

func TestMDNSProfile(t *testing.T) {
	ps, err := Parse("d.toml", []byte(`
[[profile]]
name = "pjlink-display"
protocol = "mdns"
kind = "display"
[profile.match]
services = ["_pjlink._tcp", "_HTTP._tcp.local."]
[profile.identity]
serial = ["serial", "SN"]
model = "model"
[[profile.point]]
name = "pjlinkClass"
txt = "Class"
`), testCodecs)
	require.NoError(t, err)
	p := ps[0]
	require.Equal(t, []string{"_pjlink._tcp", "_http._tcp"}, p.Match.(*mdns.Match).Services)
	require.Equal(t, mdns.Identity{"serial": {"serial", "sn"}, "model": {"model"}}, p.Identity)
	require.Equal(t, mdns.TXTKey("class"), p.Points[0].Address, "TXT keys compare case-insensitively: kept lower-case")
	require.Equal(t, gateway.TypeString, p.Points[0].Type)
}

func TestProtocolProfileErrors(t *testing.T) {
	modbus := "[[profile]]\nname = \"x\"\nprotocol = \"modbus\"\n"
	mdns := "[[profile]]\nname = \"x\"\nprotocol = \"mdns\"\n"
	snmp := "[[profile]]\nname = \"x\"\n"
	cases := []struct{ name, src, want string }{
		{"unknown protocol", "[[profile]]\nname = \"x\"\nprotocol = \"bacnet\"\n", `x.toml:3:12: profile[0].protocol: unknown protocol "bacnet" (known: mdns, modbus, snmp)`},
		{"oid in a modbus point", modbus + "[[profile.point]]\nname = \"p\"\noid = \"1.3.6\"\nregister = \"holding\"\naddress = 1\n", `x.toml:6:1: profile[0].point[0].oid: oid is for protocol = "snmp" profiles; this one is modbus`},
		{"register in an snmp point", snmp + "[[profile.point]]\nname = \"p\"\noid = \"1.3.6\"\ntype = \"int\"\nregister = \"holding\"\n", `x.toml:7:1: profile[0].point[0].register: register is for protocol = "modbus" profiles; this one is snmp`},
		{"no register", modbus + "[[profile.point]]\nname = \"p\"\ntype = \"int\"\n", `x.toml:4:1: profile[0].point[0]: point "p" has no register and address`},
		{"no address", modbus + "[[profile.point]]\nname = \"p\"\nregister = \"input\"\n", `x.toml:4:1: profile[0].point[0]: point "p" has no address`},
		{"unknown register", modbus + "[[profile.point]]\nname = \"p\"\nregister = \"holdings\"\naddress = 1\n", `x.toml:6:12: profile[0].point[0].register: unknown register "holdings" (known: holding, input, coil, discrete)`},
		{"address out of range", modbus + "[[profile.point]]\nname = \"p\"\nregister = \"input\"\naddress = 65536\n", `x.toml:7:11: profile[0].point[0].address: address 65536 is out of range 0..65535 (0-based PDU addresses: 40001 in 1-based notation is holding 0)`},
		{"runs past the end", modbus + "[[profile.point]]\nname = \"p\"\nregister = \"input\"\naddress = 65535\nformat = \"f32\"\n", `x.toml:7:11: profile[0].point[0].address: point "p" runs past register 65535`},
		{"format on a coil", modbus + "[[profile.point]]\nname = \"p\"\nregister = \"coil\"\naddress = 1\nformat = \"u16\"\n", `x.toml:8:10: profile[0].point[0].format: format is for registers; a coil is one bit`},
		{"unknown format", modbus + "[[profile.point]]\nname = \"p\"\nregister = \"input\"\naddress = 1\nformat = \"float32\"\n", `x.toml:8:10: profile[0].point[0].format: unknown format "float32" (known: u16, i16, u32, i32, u64, i64, f32, f64, string)`},
		{"string without count", modbus + "[[profile.point]]\nname = \"p\"\nregister = \"input\"\naddress = 1\nformat = \"string\"\n", `x.toml:4:1: profile[0].point[0]: point "p": format "string" needs count (its length in registers)`},
		{"count on a number", modbus + "[[profile.point]]\nname = \"p\"\nregister = \"input\"\naddress = 1\ncount = 2\n", `x.toml:8:9: profile[0].point[0].count: count is the length of a format = "string" in registers`},
		{"bad word order", modbus + "[[profile.point]]\nname = \"p\"\nregister = \"input\"\naddress = 1\nformat = \"u32\"\nword_order = \"swapped\"\n", `x.toml:9:14: profile[0].point[0].word_order: word_order must be "big" or "little", not "swapped"`},
		{"scale factor on a string", modbus + "[[profile.point]]\nname = \"p\"\nregister = \"input\"\naddress = 1\nformat = \"string\"\ncount = 4\nscale_factor = 9\n", `x.toml:10:16: profile[0].point[0].scale_factor: scale_factor scales numbers, not a string`},
		{"services in an snmp match", snmp + "[profile.match]\nservices = [\"_http._tcp\"]\n", `x.toml:4:1: profile[0].match.services: services is for protocol = "mdns" profiles; this one is snmp`},
		{"sys_object_ids in an mdns match", mdns + "[profile.match]\nsys_object_ids = [\"1.3.6\"]\n", `x.toml:5:1: profile[0].match.sys_object_ids: sys_object_ids is for protocol = "snmp" profiles; this one is mdns`},
		{"bad service type", mdns + "[profile.match]\nservices = [\"http\"]\n", `x.toml:5:13: profile[0].match.services[0]: service type "http": write it as _name._tcp or _name._udp`},
		{"bad vendor regexp", modbus + "[profile.match]\nvendor_name = \"(\"\n", "x.toml:5:15: profile[0].match.vendor_name: vendor_name: not a usable regular expression: error parsing regexp: missing closing ): `(`"},
		{"bad sunspec model", modbus + "[profile.match]\nsunspec_models = [0]\n", `x.toml:5:18: profile[0].match.sunspec_models: sunspec_models holds model ids 1..65534, not 0`},
		{"bad TXT key", mdns + "[[profile.point]]\nname = \"p\"\ntxt = \"a=b\"\n", `x.toml:6:7: profile[0].point[0].txt: TXT key "a=b": 1 to 64 printable ASCII characters without '='`},
		{"mdns point without txt", mdns + "[[profile.point]]\nname = \"p\"\n", `x.toml:4:1: profile[0].point[0]: point "p" has no txt key`},
		{"mdns method", mdns + "[[profile.method]]\nname = \"m\"\ntxt = \"a\"\ntype = \"int\"\nvalue = 1\n", `x.toml:4:1: profile[0].method[0]: mDNS devices take no methods: mDNS only announces`},
		{"modbus identity as an oid", modbus + "[profile.identity]\nserial = \"1.3.6\"\n", `x.toml:5:10: profile[0].identity.serial: must be a register table ({ register = "holding", address = 52, format = "string", count = 16 }), got a string`},
		{"modbus identity unknown key", modbus + "[profile.identity]\nserial = { register = \"holding\", address = 1, format = \"string\", count = 2, size = 4 }\n", `x.toml:5:77: profile[0].identity.serial.size: unknown key (known: register, address, format, count, word_order, byte_order, scale_factor, sunspec_model)`},
		{"sysdescr rule in a modbus identity", modbus + "[profile.identity]\nserial_from_sys_descr = \"(x)\"\n", `x.toml:5:1: profile[0].identity.serial_from_sys_descr: serial_from_sys_descr is for protocol = "snmp" profiles; this one is modbus`},
		{"writable input register", modbus + "[[profile.point]]\nname = \"p\"\nregister = \"input\"\naddress = 1\nwritable = true\n", `x.toml:8:12: profile[0].point[0].writable: input registers are read-only in Modbus: only holding registers and coils can be written`},
		{"writable mdns point", mdns + "[[profile.point]]\nname = \"p\"\ntxt = \"a\"\nwritable = true\n", `x.toml:7:12: profile[0].point[0].writable: mDNS values cannot be written: mDNS only announces`},
		{"extends across protocols", modbus + "extends = [\"mib2\"]\n", `x.toml:4:12: profile[0].extends[0]: "x" speaks modbus and "mib2" snmp: a profile extends only profiles of its own protocol`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "extends across protocols" {
				_, err := loadWith(t, "x.toml", tc.src)
				require.EqualError(t, err, tc.want)
				return
			}
			_, err := Parse("x.toml", []byte(tc.src), testCodecs)
			require.Equal(t, []string{tc.want}, messages(t, err))
		})
	}
}

// loadWith loads the embedded profiles plus one site file, for errors that need the whole library.
func loadWith(t *testing.T, name, src string) (*Library, error) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600))
	lib, err := Load([]string{dir}, testCodecs)
	if err != nil {
		// Messages carry the full path; the cases compare from the file name on.
		return nil, trimDir{err, dir + string(filepath.Separator)}
	}
	return lib, nil
}

type trimDir struct {
	err error
	dir string
}

func (e trimDir) Error() string { return strings.ReplaceAll(e.err.Error(), e.dir, "") }
