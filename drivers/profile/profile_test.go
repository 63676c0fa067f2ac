package profile

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/drivers/snmp"
	"github.com/edgegw/edgegw/gateway"
)

// messages splits a joined error into its lines, one *Error each.
func messages(t *testing.T, err error) []string {
	t.Helper()
	require.Error(t, err)
	joined, ok := err.(interface{ Unwrap() []error })
	require.True(t, ok, "want a joined error, got %T", err)
	var out []string
	for _, e := range joined.Unwrap() {
		var pe *Error
		require.True(t, errors.As(e, &pe), "want *Error, got %T: %v", e, e)
		out = append(out, pe.Error())
	}
	return out
}

func TestEmbeddedProfilesLoad(t *testing.T) {
	entries, err := embedded.ReadDir("profiles")
	require.NoError(t, err)
	require.NotEmpty(t, entries)
	for _, e := range entries {
		t.Run(e.Name(), func(t *testing.T) {
			data, err := embedded.ReadFile("profiles/" + e.Name())
			require.NoError(t, err)
			ps, err := Parse("embedded:"+e.Name(), data, testCodecs)
			require.NoError(t, err)
			require.NotEmpty(t, ps)
		})
	}

	lib, err := Load(nil, testCodecs)
	require.NoError(t, err)
	require.Empty(t, lib.Overrides())
	var names []string
	for _, p := range lib.List() {
		names = append(names, p.Name)
		require.True(t, strings.HasPrefix(p.Source, "embedded:"), p.Source)
		require.NotEmpty(t, p.Kind, p.Name)
		for _, pt := range p.Points {
			if p.Protocol == "snmp" {
				require.True(t, strings.HasPrefix(oidOf(pt), ".1.3.6.1."), "%s.%s: %s", p.Name, pt.Name, oidOf(pt))
			}
			require.True(t, pt.Type.Valid())
		}
	}
	require.Subset(t, names, []string{"sunspec-inverter", "sunspec-inverter-3ph", "eastron-sdm630", "acme-display", "acme-projector", "acme-ups", "entity", "mib2", "printer-mib", "ups-mib",
		"apc-ups", "apc-pdu", "raritan-pdu", "servertech-pdu", "vertiv-pdu", "janitza-meter", "eaton-mge-ups",
		"cyberpower-ups", "generex-ups", "epson-projector", "barco-clickshare", "zenitel-vsdevice", "cisco-sb",
		"ubiquiti-edgeswitch", "moxa-eds", "brother-printer", "ricoh-printer", "konica-minolta-printer", "zebra-printer"})
	require.True(t, slices.IsSorted(names))
	require.Equal(t, "other", lib.Get("mib2").Kind)
	require.Nil(t, lib.Get("nope"))
}

// TestEmbeddedPoints pins the OIDs other parts of the project rely on: edgegw-sim serves the acme ones,
// and the standard ones are from RFC 1213, 1628, 2790, 3805 and 6933.
func TestEmbeddedPoints(t *testing.T) {
	lib, err := Load(nil, testCodecs)
	require.NoError(t, err)
	cases := []struct {
		profile, point, oid string
		typ                 gateway.ValueType
		scale               float64
		unit                string
		writable            bool
	}{
		{"mib2", "uptimeSeconds", ".1.3.6.1.2.1.1.3.0", gateway.TypeTimeticks, 0, "s", false},
		{"mib2", "hostname", ".1.3.6.1.2.1.1.5.0", gateway.TypeString, 0, "", true},
		{"mib2", "location", ".1.3.6.1.2.1.1.6.0", gateway.TypeString, 0, "", true},
		{"mib2", "contact", ".1.3.6.1.2.1.1.4.0", gateway.TypeString, 0, "", true},
		{"ups-mib", "batteryStatus", ".1.3.6.1.2.1.33.1.2.1.0", gateway.TypeEnum, 0, "", false},
		{"ups-mib", "batteryRuntimeSeconds", ".1.3.6.1.2.1.33.1.2.3.0", gateway.TypeInt, 60, "s", false},
		{"ups-mib", "batteryChargePercent", ".1.3.6.1.2.1.33.1.2.4.0", gateway.TypeInt, 0, "%", false},
		{"ups-mib", "batteryVoltageVolts", ".1.3.6.1.2.1.33.1.2.5.0", gateway.TypeInt, 0.1, "V", false},
		{"ups-mib", "batteryTemperatureCelsius", ".1.3.6.1.2.1.33.1.2.7.0", gateway.TypeInt, 0, "Cel", false},
		{"ups-mib", "inputVoltageVolts", ".1.3.6.1.2.1.33.1.3.3.1.3.1", gateway.TypeInt, 0, "V", false},
		{"ups-mib", "outputSource", ".1.3.6.1.2.1.33.1.4.1.0", gateway.TypeEnum, 0, "", false},
		{"ups-mib", "outputVoltageVolts", ".1.3.6.1.2.1.33.1.4.4.1.2.1", gateway.TypeInt, 0, "V", false},
		{"ups-mib", "outputLoadPercent", ".1.3.6.1.2.1.33.1.4.4.1.5.1", gateway.TypeInt, 0, "%", false},
		{"printer-mib", "printerStatus", ".1.3.6.1.2.1.25.3.5.1.1.1", gateway.TypeEnum, 0, "", false},
		{"printer-mib", "tonerLevel", ".1.3.6.1.2.1.43.11.1.1.9.1.1", gateway.TypeInt, 0, "", false},
		{"printer-mib", "tonerMaxCapacity", ".1.3.6.1.2.1.43.11.1.1.8.1.1", gateway.TypeInt, 0, "", false},
		{"printer-mib", "pageCount", ".1.3.6.1.2.1.43.10.2.1.4.1.1", gateway.TypeCounter, 0, "", false}, // an OID, not an address
		{"acme-display", "temperatureCelsius", ".1.3.6.1.4.1.99999.1.1.1.0", gateway.TypeInt, 0.1, "Cel", false},
		{"acme-display", "powerState", ".1.3.6.1.4.1.99999.1.1.2.0", gateway.TypeEnum, 0, "", true},
		{"acme-display", "inputSource", ".1.3.6.1.4.1.99999.1.1.3.0", gateway.TypeEnum, 0, "", true},
		{"acme-display", "uptimeSeconds", ".1.3.6.1.2.1.1.3.0", gateway.TypeTimeticks, 0, "s", false},
		{"acme-display", "backlightPercent", ".1.3.6.1.4.1.99999.1.1.4.0", gateway.TypeInt, 0, "%", true},
		{"acme-projector", "lampHours", ".1.3.6.1.4.1.99999.2.1.5.0", gateway.TypeUint, 0, "h", false},
		{"acme-projector", "temperatureCelsius", ".1.3.6.1.4.1.99999.2.1.1.0", gateway.TypeInt, 0.1, "Cel", false},
		{"acme-projector", "powerState", ".1.3.6.1.4.1.99999.2.1.2.0", gateway.TypeEnum, 0, "", true},
		{"acme-ups", "temperatureCelsius", ".1.3.6.1.4.1.99999.3.1.1.0", gateway.TypeInt, 0.1, "Cel", false},
		{"acme-ups", "batteryStatus", ".1.3.6.1.2.1.33.1.2.1.0", gateway.TypeEnum, 0, "", false},
		{"acme-ups", "hostname", ".1.3.6.1.2.1.1.5.0", gateway.TypeString, 0, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.profile+"/"+tc.point, func(t *testing.T) {
			p := lib.Get(tc.profile)
			require.NotNil(t, p)
			pt := p.Point(tc.point)
			require.NotNil(t, pt)
			require.Equal(t, tc.oid, oidOf(*pt))
			require.Equal(t, tc.typ, pt.Type)
			require.Equal(t, tc.scale, pt.Scale)
			require.Equal(t, tc.unit, pt.Unit)
			require.Equal(t, tc.writable, pt.Writable)
		})
	}

	require.Equal(t, map[int64]string{1: "unknown", 2: "normal", 3: "low", 4: "depleted"}, lib.Get("ups-mib").Point("batteryStatus").Enum)
	require.Equal(t, map[int64]string{1: "other", 2: "none", 3: "normal", 4: "bypass", 5: "battery", 6: "booster", 7: "reducer"},
		lib.Get("ups-mib").Point("outputSource").Enum)
	require.Equal(t, map[int64]string{1: "other", 2: "unknown", 3: "idle", 4: "printing", 5: "warmup"},
		lib.Get("printer-mib").Point("printerStatus").Enum)
	require.Equal(t, map[int64]string{1: "on", 2: "standby"}, lib.Get("acme-display").Point("powerState").Enum)
	require.Equal(t, map[int64]string{1: "hdmi1", 2: "hdmi2", 3: "displayport", 4: "dvi"}, lib.Get("acme-display").Point("inputSource").Enum)
	require.Equal(t, 255, lib.Get("mib2").Point("hostname").MaxLen)

	entityFB := identityOIDs(map[string]string{"serial": ".1.3.6.1.2.1.47.1.1.1.1.11.1", "model": ".1.3.6.1.2.1.47.1.1.1.1.13.1", "manufacturer": ".1.3.6.1.2.1.47.1.1.1.1.12.1", "hardware": ".1.3.6.1.2.1.47.1.1.1.1.8.1"})
	entityFB["firmware"] = []snmp.IdentitySource{{OID: ".1.3.6.1.2.1.47.1.1.1.1.10.1"}, {OID: ".1.3.6.1.2.1.47.1.1.1.1.9.1"}}
	require.Equal(t, entityFB, sid(lib.Get("entity")).Fallback, "row 1 of ENTITY-MIB only after the driver's own chassis search")
	require.Equal(t, identityOIDs(map[string]string{"manufacturer": ".1.3.6.1.2.1.33.1.1.1.0", "model": ".1.3.6.1.2.1.33.1.1.2.0", "firmware": ".1.3.6.1.2.1.33.1.1.3.0"}), sid(lib.Get("ups-mib")).Sources)
	require.Equal(t, identityOIDs(map[string]string{"serial": ".1.3.6.1.2.1.43.5.1.1.17.1", "model": ".1.3.6.1.2.1.25.3.2.1.3.1"}), sid(lib.Get("printer-mib")).Sources)
	// acme-ups extends entity, then ups-mib: ups-mib's sources are its own, entity's row 1 its fallback.
	require.Equal(t, identityOIDs(map[string]string{"model": ".1.3.6.1.2.1.33.1.1.2.0", "manufacturer": ".1.3.6.1.2.1.33.1.1.1.0", "firmware": ".1.3.6.1.2.1.33.1.1.3.0"}), sid(lib.Get("acme-ups")).Sources)
	require.Contains(t, sid(lib.Get("acme-ups")).Fallback["serial"], snmp.IdentitySource{OID: ".1.3.6.1.2.1.47.1.1.1.1.11.1"})
	require.Equal(t, "ACME", lib.Get("acme-ups").Manufacturer)
	require.Equal(t, []string{".1.3.6.1.4.1.99999.1.55"}, smatch(lib.Get("acme-display")).SysObjectIDs)
	require.Equal(t, []string{".1.3.6.1.4.1.99999.2.4"}, smatch(lib.Get("acme-projector")).SysObjectIDs)
	require.Equal(t, []string{".1.3.6.1.4.1.99999.3.15"}, smatch(lib.Get("acme-ups")).SysObjectIDs)
}

func TestExtends(t *testing.T) {
	src := `
[[profile]]
name = "base-a"
kind = "pdu"
manufacturer = "A Corp"
[profile.identity]
serial = ".1.3.6.1.4.1.1.1"
model = ".1.3.6.1.4.1.1.2"
[[profile.point]]
name = "one"
oid = ".1.3.6.1.4.1.1.10"
type = "int"
[[profile.point]]
name = "two"
oid = ".1.3.6.1.4.1.1.20"
type = "int"
[[profile.method]]
name = "reboot"
oid = ".1.3.6.1.4.1.1.99"
type = "int"
value = 1

[[profile]]
name = "base-b"
extends = ["base-a"]
[profile.identity]
model = ".1.3.6.1.4.1.2.2"
[[profile.point]]
name = "three"
oid = ".1.3.6.1.4.1.2.30"
type = "string"

[[profile]]
name = "child"
manufacturer = "Child Inc"
extends = ["base-a", "base-b"]   # base-a twice (diamond): not a clash
[profile.match]
sys_object_ids = [".1.3.6.1.4.1.2"]
[profile.identity]
firmware = ".1.3.6.1.4.1.3.4"
[[profile.point]]
name = "two"
oid = ".1.3.6.1.4.1.3.20"
type = "float"
[[profile.point]]
name = "four"
oid = ".1.3.6.1.4.1.3.40"
type = "bool"
`
	ps, err := Parse("extends.toml", []byte(src), testCodecs)
	require.NoError(t, err)
	require.Len(t, ps, 3)
	var child *gateway.Profile
	for _, p := range ps {
		if p.Name == "child" {
			child = p
		}
	}
	require.NotNil(t, child)
	var names []string
	for _, p := range child.Points {
		names = append(names, p.Name)
	}
	// Bases' points in extends order, own points replacing in place, new own points last.
	require.Equal(t, []string{"one", "two", "three", "four"}, names)
	require.Equal(t, gateway.TypeFloat, child.Point("two").Type, "own point wins")
	require.Equal(t, ".1.3.6.1.4.1.3.20", oidOf(*child.Point("two")))
	require.Equal(t, "pdu", child.Kind, "kind inherited")
	require.Equal(t, "Child Inc", child.Manufacturer, "own manufacturer wins")
	require.Equal(t, identityOIDs(map[string]string{"serial": ".1.3.6.1.4.1.1.1", "model": ".1.3.6.1.4.1.2.2", "firmware": ".1.3.6.1.4.1.3.4"}), sid(child).Sources)
	require.Equal(t, []gateway.Method{{Name: "reboot", Address: &snmp.Addr{OID: ".1.3.6.1.4.1.1.99"}, Type: gateway.TypeInt, Value: "1"}}, child.Methods)
	require.Equal(t, []string{".1.3.6.1.4.1.2"}, smatch(child).SysObjectIDs, "match is not inherited")

	// A site file extends embedded profiles.
	ps, err = Parse("site.toml", []byte("[[profile]]\nname = \"my-ups\"\nextends = [\"ups-mib\"]\n[profile.match]\nsys_object_ids = [\"1.3.6.1.4.1.5\"]\n"), testCodecs)
	require.NoError(t, err)
	require.Len(t, ps, 1)
	require.Equal(t, "ups", ps[0].Kind)
	require.NotNil(t, ps[0].Point("batteryStatus"))
	require.NotNil(t, ps[0].Point("uptimeSeconds"), "through ups-mib from mib2")
	require.Empty(t, smatch(ps[0]).Present)
}

func TestExtendsErrors(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want []string
	}{
		{
			"unknown base",
			"[[profile]]\nname = \"a\"\nextends = [\"mib2\", \"nope\"]\n",
			[]string{`x.toml:3:20: profile[0].extends[1]: extends unknown profile "nope"`},
		},
		{
			"self",
			"[[profile]]\nname = \"a\"\nextends = [\"a\"]\n",
			[]string{`x.toml:3:12: profile[0].extends[0]: extends cycle: a -> a`},
		},
		{
			"cycle",
			"[[profile]]\nname = \"a\"\nextends = [\"b\"]\n\n[[profile]]\nname = \"b\"\nextends = [\"c\"]\n\n[[profile]]\nname = \"c\"\nextends = [\"mib2\", \"a\"]\n",
			[]string{`x.toml:11:20: profile[2].extends[1]: extends cycle: a -> b -> c -> a`},
		},
		{
			"listed twice",
			"[[profile]]\nname = \"a\"\nextends = [\"mib2\", \"mib2\"]\n",
			[]string{`x.toml:3:20: profile[0].extends[1]: "mib2" is listed twice in extends`},
		},
		{
			"clash between bases",
			`[[profile]]
name = "a"
[[profile.point]]
name = "v"
oid = "1.3.6.1.4.1.1"
type = "int"
[[profile]]
name = "b"
[[profile.point]]
name = "v"
oid = "1.3.6.1.4.1.2"
type = "int"
[[profile]]
name = "c"
extends = ["a", "b"]
`,
			[]string{`x.toml:15:17: profile[2].extends[1]: point "v" comes from both "a" and "b": define it in "c" to choose`},
		},
		{
			"method clash between bases",
			`[[profile]]
name = "a"
method = [{ name = "reboot", oid = "1.3.6.1.4.1.1", type = "int", value = 1 }]
[[profile]]
name = "b"
method = [{ name = "reboot", oid = "1.3.6.1.4.1.2", type = "int", value = 1 }]
[[profile]]
name = "c"
extends = ["a", "b"]
`,
			[]string{`x.toml:9:17: profile[2].extends[1]: method "reboot" comes from both "a" and "b": define it in "c" to choose`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.toml", []byte(tc.src), testCodecs)
			require.Equal(t, tc.want, messages(t, err))
		})
	}

	// An own point settles a clash.
	_, err := Parse("x.toml", []byte(`[[profile]]
name = "a"
point = [{ name = "v", oid = "1.3.6.1.4.1.1", type = "int" }]
[[profile]]
name = "b"
point = [{ name = "v", oid = "1.3.6.1.4.1.2", type = "int" }]
[[profile]]
name = "c"
extends = ["a", "b"]
point = [{ name = "v", oid = "1.3.6.1.4.1.2", type = "uint" }]
`), testCodecs)
	require.NoError(t, err)
}

// TestValidation covers each check with the exact position it reports.
func TestValidation(t *testing.T) {
	const head = "[[profile]]\nname = \"p\"\n" // so a case's own lines start at line 3
	point := func(lines string) string {
		return head + "[[profile.point]]\nname = \"v\"\noid = \"1.3.6.1.4.1.1\"\n" + lines // own lines start at 6
	}
	cases := []struct {
		name string
		src  string
		want []string
	}{
		{"toml syntax", head + "kind = \"ups\n", []string{`x.toml:3:12: syntax error: strings cannot contain newlines`}},
		// toml points at the blank before x; its own column would say 12, counting é's two bytes.
		{"toml syntax col counts characters", "# ÄÖÜ\nname = \"é\" x\n", []string{`x.toml:2:11: syntax error: expected a top-level item to end with a newline, comment, or EOF, but got 'x' instead`}},
		{"not utf-8", "name = \"\xff\"\n", []string{`x.toml:1:1: file is not UTF-8`}},
		{"bits on an int", point("type = \"int\"\nbits = { 0 = \"a\" }\n"), []string{`x.toml:7:1: profile[0].point[0].bits: bits is only for type "bits", not "int"`}},
		{"bits without names", point("type = \"bits\"\n"), []string{`x.toml:6:8: profile[0].point[0].type: type "bits" needs a bits table: bits = { 0 = "lowPaper", 1 = "noPaper" }`}},
		{"bits key not a number", point("type = \"bits\"\nbits = { x = \"a\" }\n"), []string{`x.toml:7:10: profile[0].point[0].bits.x: bits key "x" is not an integer`}},
		{"bits not writable", point("type = \"bits\"\nbits = { 0 = \"a\" }\nwritable = true\n"), []string{`x.toml:8:12: profile[0].point[0].writable: a bits point cannot be writable`}},
		{"where without table", point("type = \"int\"\nwhere = { oid = \"1.3.6.1.4.1.9\", in = [10] }\n"), []string{`x.toml:7:1: profile[0].point[0].where: where selects table rows: it needs table = true`}},
		{"where without in", point("type = \"int\"\ntable = true\nwhere = { oid = \"1.3.6.1.4.1.9\" }\n"), []string{`x.toml:8:9: profile[0].point[0].where: where needs in (the values of rows to keep: in = [10])`}},
		{"where in empty", point("type = \"int\"\ntable = true\nwhere = { oid = \"1.3.6.1.4.1.9\", in = [] }\n"), []string{`x.toml:8:39: profile[0].point[0].where.in: in is empty: no row would be kept`}},
		{"where bad key", point("type = \"int\"\ntable = true\nwhere = { column = \"1.3\", oid = \"1.3.6.1.4.1.9\", in = [1] }\n"), []string{`x.toml:8:11: profile[0].point[0].where.column: unknown key (known: oid, in)`}},
		{"decimals_oid on a string", point("type = \"string\"\ndecimals_oid = \"1.3.6.1.4.1.9\"\n"), []string{`x.toml:7:16: profile[0].point[0].decimals_oid: decimals_oid applies to numbers, not to type "string"`}},
		{"identity source with two places", head + "[profile.identity]\nserial = { oid = \"1.3.6.1.4.1.9.1\", sys_descr = true }\n", []string{`x.toml:4:10: profile[0].identity.serial: identity serial: give only one of oid, oids, sys_object_id_suffix, sys_descr and sys_object_id`}},
		{"identity source with no place", head + "[profile.identity]\nserial = { regex = \"(x)\" }\n", []string{`x.toml:4:10: profile[0].identity.serial: identity serial: say where the value is: oid, oids, sys_object_id_suffix, sys_descr = true or sys_object_id = true`}},
		{"identity regex without a group", head + "[profile.identity]\nserial = { sys_descr = true, regex = \"x\" }\n", []string{`x.toml:4:38: profile[0].identity.serial.regex: regex: the expression needs exactly one group (the value), it has 0`}},
		{"identity next without oid", head + "[profile.identity]\nserial = { oids = [\"1.3.6.1.4.1.9.1\", \"1.3.6.1.4.1.9.2\"], next = true }\n", []string{`x.toml:4:59: profile[0].identity.serial.next: next needs oid (the column or subtree whose first object is read)`}},
		{"identity map key not an oid", head + "[profile.identity]\nmodel = { sys_object_id = true, map = { \"x\" = \"M\" } }\n", []string{`x.toml:4:41: profile[0].identity.model.map.x: map key "x": with sys_object_id the keys are OIDs: needs at least two arcs`}},
		{"identity one oid to join", head + "[profile.identity]\nmodel = { oids = [\"1.3.6.1.4.1.9.1\"] }\n", []string{`x.toml:4:18: profile[0].identity.model.oids: oids joins two or more OIDs; for one write oid`}},
		{"from_sys_descr not a string", head + "[profile.identity]\nserial_from_sys_descr = [1]\n", []string{`x.toml:4:26: profile[0].identity.serial_from_sys_descr[0]: serial_from_sys_descr must hold regular expressions, not an integer`}},
		{"empty file", "# nothing\n", []string{`x.toml:1:1: no profiles: a file holds one or more [[profile]] tables`}},
		{"profile not an array", "[profile]\nname = \"p\"\n", []string{`x.toml:1:1: profile: must be an array of tables: write [[profile]], not [profile]`}},
		{"unknown top-level key", "version = 1\n" + head, []string{`x.toml:1:1: version: unknown key (known: profile)`}},
		{"unknown key", head + "descripton = \"x\"\n", []string{`x.toml:3:1: profile[0].descripton: unknown key; did you mean description?`}},
		{"key in the wrong case", head + "Kind = \"ups\"\n", []string{`x.toml:3:1: profile[0].Kind: unknown key; did you mean kind? (keys are case-sensitive)`}},
		{"unknown key in match", head + "[profile.match]\n  sysDescr = \"x\"\n", []string{`x.toml:4:3: profile[0].match.sysDescr: unknown key; did you mean sys_descr?`}},
		{"unknown key in point", point("type = \"int\"\nUnit = \"V\"\n"), []string{`x.toml:7:1: profile[0].point[0].Unit: unknown key; did you mean unit? (keys are case-sensitive)`}},
		{"unknown key in inline table", head + "identity = { serial = \"1.3\", sreial = \"1.3\" }\n", []string{`x.toml:3:30: profile[0].identity.sreial: unknown key; did you mean serial?`}},
		{"unknown dotted key", head + "match.sys_oid = [\"1.3\"]\n", []string{`x.toml:3:1: profile[0].match.sys_oid: unknown key (known: sys_object_ids, sys_descr, present)`}},
		{"wrong toml type", head + "kind = 5\n", []string{`x.toml:3:8: profile[0].kind: must be a string, got an integer 5`}},
		{"no name", "[[profile]]\nkind = \"ups\"\n", []string{`x.toml:1:1: profile[0]: profile has no name`}},
		{"bad profile name", "[[profile]]\nname = \"My_UPS\"\n", []string{`x.toml:2:8: profile[0].name: profile name "My_UPS": use lower-case letters, digits and hyphens`}},
		{"duplicate profile", head + "\n" + head, []string{`x.toml:5:8: profile[1].name: profile "p" is already defined at x.toml:2:8`}},
		{"unknown kind", head + "kind = \"toaster\"\n", []string{`x.toml:3:8: profile[0].kind: unknown kind "toaster" (known: ups, pdu, sensor, printer, projector, display, codec, switch, meter, inverter, other)`}},
		{"bad oid: letters", head + "[profile.match]\nsys_object_ids = [\".1.3.6.1.4.1.9\", \"iso.3.6\"]\n", []string{`x.toml:4:37: profile[0].match.sys_object_ids[1]: oid "iso.3.6" arc 1 ("iso") is not a number: an OID is numeric, dotted`}},
		{"bad oid: one arc", head + "[profile.match]\npresent = [\".1\"]\n", []string{`x.toml:4:12: profile[0].match.present[0]: oid ".1" needs at least two arcs`}},
		{"bad oid: empty arc", head + "[profile.identity]\nserial = \"1.3..6\"\n", []string{`x.toml:4:10: profile[0].identity.serial: serial: oid "1.3..6" arc 3 is empty`}},
		{"bad oid: trailing dot", head + "[profile.identity]\nserial = \"1.3.6.\"\n", []string{`x.toml:4:10: profile[0].identity.serial: serial: oid "1.3.6." arc 4 is empty`}},
		{"bad oid: too big", head + "[[profile.point]]\nname = \"v\"\noid = \"1.3.4294967296\"\ntype = \"int\"\n", []string{`x.toml:5:7: profile[0].point[0].oid: oid "1.3.4294967296" arc 3 (4294967296) does not fit in 32 bits`}},
		{"bad oid: leading zero", head + "[profile.identity]\nmodel = \"1.3.06\"\n", []string{`x.toml:4:9: profile[0].identity.model: model: oid "1.3.06" arc 3 ("06") has a leading zero`}},
		{"bad oid: empty", head + "[profile.identity]\nmodel = \"\"\n", []string{`x.toml:4:9: profile[0].identity.model: model: oid "" is empty`}},
		{"bad regexp", head + "[profile.match]\nsys_descr = \"(?i)^ACME(\"\n", []string{"x.toml:4:13: profile[0].match.sys_descr: sys_descr: error parsing regexp: missing closing ): `(?i)^ACME(`"}},
		{"empty regexp", head + "[profile.match]\nsys_descr = \"\"\n", []string{`x.toml:4:13: profile[0].match.sys_descr: sys_descr is empty: leave it out to match any description`}},
		{"unknown type", point("type = \"integer\"\n"), []string{`x.toml:6:8: profile[0].point[0].type: unknown type "integer" (known: int, uint, counter, float, string, timeticks, bool, enum, mac, ip, oid, bits)`}},
		{"no type", point(""), []string{`x.toml:3:1: profile[0].point[0]: point "v" has no type`}},
		{"no oid", head + "[[profile.point]]\nname = \"v\"\ntype = \"int\"\n", []string{`x.toml:3:1: profile[0].point[0]: point "v" has no oid`}},
		{"no point name", head + "point = [{ oid = \"1.3\", type = \"int\" }]\n", []string{`x.toml:3:10: profile[0].point[0]: point has no name`}},
		{"point name not camelCase", head + "[[profile.point]]\nname = \"Temperature\"\noid = \"1.3\"\ntype = \"int\"\n", []string{`x.toml:4:8: profile[0].point[0].name: point name "Temperature" is not camelCase (a lower-case letter, then letters and digits)`}},
		{"point name with underscore", head + "[[profile.point]]\nname = \"lamp_hours\"\noid = \"1.3\"\ntype = \"int\"\n", []string{`x.toml:4:8: profile[0].point[0].name: point name "lamp_hours" is not camelCase (a lower-case letter, then letters and digits)`}},
		{"duplicate point", point("type = \"int\"\n") + "[[profile.point]]\nname = \"v\"\noid = \"1.3.6\"\ntype = \"int\"\n", []string{`x.toml:8:8: profile[0].point[1].name: duplicate point "v" (first at line 4)`}},
		{"enum key not an integer", point("type = \"enum\"\nenum = { 1 = \"on\", off = \"off\" }\n"), []string{`x.toml:7:20: profile[0].point[0].enum.off: enum key "off" is not an integer`}},
		{"enum key repeats", point("type = \"enum\"\nenum = { 1 = \"on\", \"01\" = \"off\" }\n"), []string{`x.toml:7:20: profile[0].point[0].enum.01: enum key "01" repeats 1`}},
		{"enum name repeats", point("type = \"enum\"\nenum = { 1 = \"on\", 2 = \"on\" }\n"), []string{`x.toml:7:24: profile[0].point[0].enum.2: enum name "on" is used for both 1 and 2`}},
		{"enum value not a string", point("type = \"enum\"\nenum = { 1 = 1 }\n"), []string{`x.toml:7:14: profile[0].point[0].enum.1: enum value for 1 must be a string, not an integer`}},
		{"enum empty", point("type = \"enum\"\nenum = {}\n"), []string{`x.toml:7:8: profile[0].point[0].enum: enum is empty`}},
		{"enum on a non-enum type", point("type = \"int\"\nenum = { 1 = \"on\" }\n"), []string{`x.toml:7:1: profile[0].point[0].enum: enum is only for type "enum", not "int"`}},
		{"enum as a table", point("type = \"int\"\n[profile.point.enum]\n1 = \"on\"\n"), []string{`x.toml:7:1: profile[0].point[0].enum: enum is only for type "enum", not "int"`}},
		{"enum type without enum", point("type = \"enum\"\n"), []string{`x.toml:6:8: profile[0].point[0].type: type "enum" needs an enum table: enum = { 1 = "on", 2 = "off" }`}},
		{"min greater than max", point("type = \"int\"\nwritable = true\nmin = 10\nmax = 5.5\n"), []string{`x.toml:8:7: profile[0].point[0].min: min 10 is greater than max 5.5`}},
		{"min without writable", point("type = \"int\"\nmin = 0\n"), []string{`x.toml:7:1: profile[0].point[0].min: min limits writes: it needs writable = true`}},
		{"max on a string", point("type = \"string\"\nwritable = true\nmax = 5\n"), []string{`x.toml:8:1: profile[0].point[0].max: max applies to numbers, not to type "string"`}},
		{"max_len on a number", point("type = \"int\"\nwritable = true\nmax_len = 5\n"), []string{`x.toml:8:1: profile[0].point[0].max_len: max_len applies to strings, not to type "int"`}},
		{"max_len zero", point("type = \"string\"\nwritable = true\nmax_len = 0\n"), []string{`x.toml:8:11: profile[0].point[0].max_len: max_len 0 is out of range 1..65535`}},
		{"scale 0", point("type = \"int\"\nscale = 0\n"), []string{`x.toml:7:9: profile[0].point[0].scale: scale 0 is meaningless: leave scale out for 1`}},
		{"scale 0.0", point("type = \"int\"\nscale = 0.0\n"), []string{`x.toml:7:9: profile[0].point[0].scale: scale 0 is meaningless: leave scale out for 1`}},
		{"scale not finite", point("type = \"int\"\nscale = nan\n"), []string{`x.toml:7:9: profile[0].point[0].scale: must be a finite number`}},
		{"scale on a string", point("type = \"string\"\nscale = 2\n"), []string{`x.toml:7:9: profile[0].point[0].scale: scale applies to numbers, not to type "string"`}},
		{"offset on an enum", point("type = \"enum\"\nenum = { 1 = \"on\" }\noffset = 2\n"), []string{`x.toml:8:10: profile[0].point[0].offset: offset applies to numbers, not to type "enum"`}},
		{"unit alias", point("type = \"int\"\nunit = \"°C\"\n"), []string{`x.toml:7:8: profile[0].point[0].unit: unit "°C": write "Cel" (units are UCUM codes)`}},
		{"unknown unit", point("type = \"int\"\nunit = \"furlongs\"\n"), []string{`x.toml:7:8: profile[0].point[0].unit: unknown unit "furlongs" (known: % %RH Cel V A W kW VA kVA var Wh kWh Hz ms s min h d B bit/s Pa dB dBm lx cd/m2 1/min)`}},
		{"writable counter", point("type = \"counter\"\nwritable = true\n"), []string{`x.toml:7:12: profile[0].point[0].writable: a counter point cannot be writable`}},
		{"writable not a boolean", point("type = \"int\"\nwritable = \"yes\"\n"), []string{`x.toml:7:12: profile[0].point[0].writable: must be true or false, got a string "yes"`}},
		{"point not a table", head + "point = [\"uptime\"]\n", []string{`x.toml:3:10: profile[0].point[0]: must be a table, got a string "uptime"`}},
		{"extends not strings", head + "extends = [\"mib2\", 3]\n", []string{`x.toml:3:20: profile[0].extends[1]: must be a string, got an integer 3`}},
		{"method without value", head + "[[profile.method]]\nname = \"reboot\"\noid = \"1.3\"\ntype = \"int\"\n", []string{`x.toml:3:1: profile[0].method[0]: method "reboot" has no value`}},
		{"method value of the wrong type", head + "[[profile.method]]\nname = \"reboot\"\noid = \"1.3\"\ntype = \"int\"\nvalue = \"now\"\n", []string{`x.toml:7:9: profile[0].method[0].value: value "now": type "int" sets a 32-bit integer`}},
		{"method value a float", head + "[[profile.method]]\nname = \"reboot\"\noid = \"1.3\"\ntype = \"int\"\nvalue = 1.5\n", []string{`x.toml:7:9: profile[0].method[0].value: must be a string or an integer, got a float 1.5`}},
		{"method on a counter", head + "[[profile.method]]\nname = \"reset\"\noid = \"1.3\"\ntype = \"counter\"\nvalue = 0\n", []string{`x.toml:6:8: profile[0].method[0].type: a method cannot set a counter`}},
		{"duplicate method", head + "method = [\n  { name = \"reboot\", oid = \"1.3\", type = \"int\", value = 1 },\n  { name = \"reboot\", oid = \"1.3\", type = \"int\", value = 2 },\n]\n", []string{`x.toml:5:12: profile[0].method[1].name: duplicate method "reboot" (first at line 4)`}},
		{
			"several errors at once, in file order",
			head + "kind = \"toaster\"\n[[profile.point]]\nname = \"Bad\"\noid = \"x\"\ntype = \"int\"\n",
			[]string{
				`x.toml:3:8: profile[0].kind: unknown kind "toaster" (known: ups, pdu, sensor, printer, projector, display, codec, switch, meter, inverter, other)`,
				`x.toml:5:8: profile[0].point[0].name: point name "Bad" is not camelCase (a lower-case letter, then letters and digits)`,
				`x.toml:6:7: profile[0].point[0].oid: oid "x" needs at least two arcs`,
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.toml", []byte(tc.src), testCodecs)
			require.Equal(t, tc.want, messages(t, err))
		})
	}
}

func TestSiteOverride(t *testing.T) {
	lib, err := Load([]string{"testdata/site"}, testCodecs)
	require.NoError(t, err)
	require.Equal(t, []Override{{Name: "mib2", Source: filepath.Join("testdata", "site", "mib2.toml"), Replaced: "embedded:mib2.toml"}}, lib.Overrides())

	mib2 := lib.Get("mib2")
	require.Equal(t, "Site generic: uptime only", mib2.Description)
	require.Len(t, mib2.Points, 1)
	// Every profile extending mib2 now gets the site's version, and the fallback is the site's.
	require.Nil(t, lib.Get("acme-display").Point("hostname"))
	require.NotNil(t, lib.Get("acme-display").Point("uptimeSeconds"))

	eaton := lib.Get("eaton-ups")
	require.NotNil(t, eaton)
	require.Equal(t, "ups", eaton.Kind)
	require.Equal(t, "Eaton", eaton.Manufacturer)
	require.Equal(t, ".1.3.6.1.4.1.534.1.2.4.0", oidOf(*eaton.Point("batteryChargePercent")))
	require.Equal(t, ".1.3.6.1.2.1.33.1.2.1.0", oidOf(*eaton.Point("batteryStatus")))

	// A later directory replaces a profile of an earlier one.
	lib, err = Load([]string{"testdata/site", "testdata/site2"}, testCodecs)
	require.NoError(t, err)
	require.Equal(t, []Override{
		{Name: "eaton-ups", Source: filepath.Join("testdata", "site2", "eaton.toml"), Replaced: filepath.Join("testdata", "site", "eaton.toml")},
		{Name: "mib2", Source: filepath.Join("testdata", "site", "mib2.toml"), Replaced: "embedded:mib2.toml"},
	}, lib.Overrides())
	require.Equal(t, []string{".1.3.6.1.4.1.534.1"}, smatch(lib.Get("eaton-ups")).SysObjectIDs)
}

func TestLoadErrors(t *testing.T) {
	_, err := Load([]string{"testdata/dup"}, testCodecs)
	require.Equal(t, []string{`testdata/dup/b.toml:4:8: profile[0].name: profile "twice" is already defined at testdata/dup/a.toml:2:8`}, messages(t, err))

	_, err = Load([]string{"testdata/missing", "testdata/dup"}, testCodecs)
	require.Equal(t, []string{
		`testdata/dup/b.toml:4:8: profile[0].name: profile "twice" is already defined at testdata/dup/a.toml:2:8`,
		`testdata/missing: read profile directory: no such file or directory`,
	}, messages(t, err))

	// Errors from several files come together; a broken file does not stop the others being checked.
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.toml"), []byte("[[profile]]\nname = \"a\"\nkind = \"x\"\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "b.toml"), []byte("[[profile]\n"), 0o600))
	_, err = Load([]string{dir}, testCodecs)
	msgs := messages(t, err)
	require.Len(t, msgs, 2)
	require.Equal(t, filepath.Join(dir, "a.toml")+`:3:8: profile[0].kind: unknown kind "x" (known: ups, pdu, sensor, printer, projector, display, codec, switch, meter, inverter, other)`, msgs[0])
	require.True(t, strings.HasPrefix(msgs[1], filepath.Join(dir, "b.toml")+":1:"), msgs[1])
}

// TestLibrariesAreIndependent: the embedded profiles are parsed once per process, so a library must not
// share mutable parts with that parse (or with another library).
func TestLibrariesAreIndependent(t *testing.T) {
	a, err := Load(nil, testCodecs)
	require.NoError(t, err)
	a.Get("ups-mib").Point("batteryStatus").Enum[1] = "changed"
	*a.Get("mib2").Point("hostname") = gateway.Point{}

	b, err := Load(nil, testCodecs)
	require.NoError(t, err)
	require.Equal(t, "unknown", b.Get("ups-mib").Point("batteryStatus").Enum[1])
	require.Equal(t, ".1.3.6.1.2.1.1.5.0", oidOf(*b.Get("mib2").Point("hostname")))
}

func countOf(list []string, s string) int {
	n := 0
	for _, l := range list {
		if l == s {
			n++
		}
	}
	return n
}

var update = flag.Bool("update", false, "rewrite the generated table of docs/twin-properties.md")

// TestTwinPropertiesDocumented: the table of every property in docs/twin-properties.md is generated
// from the embedded profiles, so the document the cloud side reads cannot fall behind. After changing
// profiles: go test ./drivers/profile -run TwinProperties -update
func TestTwinPropertiesDocumented(t *testing.T) {
	const path = "../../docs/twin-properties.md"
	const marker = "|---|---|---|---|---|\n"
	doc, err := os.ReadFile(path)
	require.NoError(t, err)
	lib, err := Load(nil, testCodecs)
	require.NoError(t, err)
	head, _, ok := strings.Cut(string(doc), marker)
	require.True(t, ok, "the generated table's header is gone from %s", path)
	want := head + marker + propertyTable(lib)
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(want), 0o644))
	}
	require.Equal(t, want, string(doc), "docs/twin-properties.md is stale: go test ./drivers/profile -run TwinProperties -update")
}

// propertyTable lists every point name of the library with its units, types, enum values and profiles.
func propertyTable(lib *Library) string {
	type info struct {
		units, types, enums map[string]bool
		profiles            []string
	}
	props := map[string]*info{}
	for _, p := range lib.List() {
		for _, pt := range p.Points {
			key := pt.Name
			if a, ok := pt.Address.(*snmp.Addr); ok && a.Table {
				key += "[i]"
			}
			in := props[key]
			if in == nil {
				in = &info{units: map[string]bool{}, types: map[string]bool{}, enums: map[string]bool{}}
				props[key] = in
			}
			if pt.Unit != "" {
				in.units[pt.Unit] = true
			}
			in.types[string(pt.Type)] = true
			in.profiles = append(in.profiles, p.Name)
			for _, e := range pt.Enum {
				in.enums[e] = true
			}
		}
	}
	keys := func(m map[string]bool) string {
		return strings.Join(slices.Sorted(maps.Keys(m)), ", ")
	}
	var b strings.Builder
	for _, n := range slices.Sorted(maps.Keys(props)) {
		in := props[n]
		ps := in.profiles
		if len(ps) > 4 {
			ps = append(ps[:4:4], fmt.Sprintf("and %d more", len(in.profiles)-4))
		}
		vals := keys(in.enums)
		if len(vals) > 80 {
			vals = vals[:77] + "..."
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", n, keys(in.units), keys(in.types), vals, strings.Join(ps, ", "))
	}
	return b.String()
}

// TestDevicesTableDocumented: README's "Devices recognised out of the box" table is generated from the
// built-in profiles. After changing profiles: go test ./drivers/profile -run DevicesTable -update
func TestDevicesTableDocumented(t *testing.T) {
	const path = "../../README.md"
	const head = "|---|---|---|---|---|---|\n"
	const tail = "<!-- end of generated table -->"
	doc, err := os.ReadFile(path)
	require.NoError(t, err)
	lib, err := Load(nil, testCodecs)
	require.NoError(t, err)
	before, rest, ok := strings.Cut(string(doc), head)
	require.True(t, ok, "the generated table's header is gone from %s", path)
	_, after, ok := strings.Cut(rest, tail)
	require.True(t, ok, "the generated table's end marker is gone from %s", path)
	want := before + head + devicesTable(lib) + tail + after
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(want), 0o644))
	}
	require.Equal(t, want, string(doc), "README.md's device table is stale: go test ./drivers/profile -run DevicesTable -update")
}

// devicesTable lists every profile that matches devices by itself (bases are left out): vendor, family,
// kind, protocol, the identity fields the profile reads from the device, name.
func devicesTable(lib *Library) string {
	type row struct{ vendor, family, kind, proto, fields, name string }
	var rows []row
	for _, p := range lib.List() {
		if p.Match == nil && p.Name != "mib2" { // a base; mib2 is SNMP's fallback
			continue
		}
		var fields []string
		if d, ok := p.Identity.(interface{ Describe() []string }); ok {
			lines := d.Describe()
			for _, f := range gateway.IdentityFields {
				if slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, f+":") || strings.HasPrefix(l, f+" (") }) {
					fields = append(fields, f)
				}
			}
		}
		vendor := p.Manufacturer
		if vendor == "" {
			vendor = "any"
		}
		rows = append(rows, row{vendor, p.Description, p.Kind, p.Protocol, strings.Join(fields, ", "), p.Name})
	}
	slices.SortFunc(rows, func(a, b row) int {
		return cmp.Or(strings.Compare(strings.ToLower(a.vendor), strings.ToLower(b.vendor)), strings.Compare(a.name, b.name))
	})
	var b strings.Builder
	for _, r := range rows {
		fields := r.fields
		if fields == "" {
			fields = "standard MIBs only"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | `%s` |\n", r.vendor, strings.ReplaceAll(r.family, "|", "/"), r.kind, r.proto, fields, r.name)
	}
	return b.String()
}

// identityOIDs is the identity sources of fields that are each one OID.
func identityOIDs(byField map[string]string) map[string][]snmp.IdentitySource {
	src := map[string][]snmp.IdentitySource{}
	for f, oid := range byField {
		src[f] = []snmp.IdentitySource{{OID: oid}}
	}
	return src
}

// oidOf is an SNMP point's OID.
func oidOf(pt gateway.Point) string {
	if a, ok := pt.Address.(*snmp.Addr); ok {
		return a.OID
	}
	return ""
}

// smatch and sid are an SNMP profile's match conditions and identity rules.
func smatch(p *gateway.Profile) *snmp.Match {
	m, _ := p.Match.(*snmp.Match)
	if m == nil {
		return &snmp.Match{}
	}
	return m
}

func sid(p *gateway.Profile) *snmp.Identity {
	id, _ := p.Identity.(*snmp.Identity)
	if id == nil {
		return &snmp.Identity{}
	}
	return id
}
