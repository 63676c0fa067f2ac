package profile

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/drivers/snmp"
	"github.com/edgegw/edgegw/gateway"
)

// TestEventValidation: [[profile.event]] is checked as strictly as points, every error at its
// file:line:col.
func TestEventValidation(t *testing.T) {
	const head = "[[profile]]\nname = \"p\"\npoint = [{ name = \"mode\", oid = \"1.3.6.1.4.1.1.0\", type = \"enum\", enum = { 1 = \"on\", 2 = \"off\" } }]\n[[profile.event]]\n"
	cases := []struct {
		name, src string
		want      []string
	}{
		{"no name, trap or severity", head + "description = \"x\"\n",
			[]string{`x.toml:4:1: profile[0].event[0]: event has no name and no severity (severity: info, warning, critical)`}},
		{"bad name, severity, trap", head + "name = \"On Battery\"\nseverity = \"fatal\"\ntrap = \"1.3.x\"\n",
			[]string{`x.toml:5:8: profile[0].event[0].name: event name "On Battery" is not camelCase (a lower-case letter, then letters and digits)`,
				`x.toml:6:12: profile[0].event[0].severity: unknown severity "fatal" (known: info, warning, critical)`,
				`x.toml:7:8: profile[0].event[0].trap: oid "1.3.x" arc 3 ("x") is not a number: an OID is numeric, dotted`}},
		{"unknown key, with a hint", head + "name = \"a\"\nseverity = \"info\"\ntrap = \"1.3.6.1.4.1.1.0.1\"\nclears = \"1.3.6.1.4.1.1.0.2\"\n",
			[]string{`x.toml:8:1: profile[0].event[0].clears: unknown key; did you mean clear?`}},
		{"set: no such point, wrong type", head + "name = \"a\"\nseverity = \"info\"\ntrap = \"1.3.6.1.4.1.1.0.1\"\nset = { nope = 1, mode = \"standby\" }\n",
			[]string{`x.toml:8:26: profile[0].event[0].set.mode: point "mode" is an enum: set it to one of off, on`,
				`x.toml:8:16: profile[0].event[0].set.nope: set names "nope", which is not a point of profile "p"`}},
		{"when key is not an OID", head + "name = \"a\"\nseverity = \"info\"\ntrap = \"1.3.6.1.4.1.1.0.1\"\nwhen = { ifIndex = 3 }\n",
			[]string{`x.toml:8:10: profile[0].event[0].when.ifIndex: when key "ifIndex": oid needs at least two arcs (quote it: "1.3.6..." = value)`}},
		{"clear_when without clear", head + "name = \"a\"\nseverity = \"info\"\ntrap = \"1.3.6.1.4.1.1.0.1\"\nclear_when = { \"1.3.6.1.4.1.1.2\" = 1 }\n",
			[]string{`x.toml:8:1: profile[0].event[0].clear_when: clear_when narrows clear: it needs clear`}},
		{"a trap that clears itself", head + "name = \"a\"\nseverity = \"info\"\ntrap = \"1.3.6.1.4.1.1.0.1\"\nclear = \"1.3.6.1.4.1.1.0.1\"\n",
			[]string{`x.toml:8:9: profile[0].event[0].clear: .1.3.6.1.4.1.1.0.1 is both the trap and its clear: tell them apart with when / clear_when`}},
		{"a protocol without events", "[[profile]]\nname = \"m\"\nprotocol = \"modbus\"\n[[profile.event]]\nname = \"a\"\n",
			[]string{`x.toml:4:1: profile[0].event: protocol "modbus" has no events: a modbus device sends nothing on its own`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.toml", []byte(tc.src), testCodecs)
			require.ElementsMatch(t, tc.want, messages(t, err))
		})
	}
}

// TestEventsExtend: a profile's own events come first, then its bases', each once however it is
// reached; set values are kept.
func TestEventsExtend(t *testing.T) {
	ps, err := Parse("x.toml", []byte(`[[profile]]
name = "base"
point = [{ name = "state", oid = "1.3.6.1.4.1.1.1", type = "string" }]
event = [{ name = "a", severity = "info", trap = "1.3.6.1.4.1.1.0.1" }]
[[profile]]
name = "mid1"
extends = ["base"]
[[profile]]
name = "mid2"
extends = ["base"]
[[profile]]
name = "top"
extends = ["mid1", "mid2"]
[[profile.event]]
name = "b"
severity = "critical"
trap = [".1.3.6.1.4.1.1.0.2", "1.3.6.1.4.1.1.2"]
when = { "1.3.6.1.4.1.1.3" = [1, 2], "1.3.6.1.4.1.1.4" = ".1.3.6.1.4.1.1.5" }
clear = "1.3.6.1.4.1.1.0.3"
instance = "1.3.6.1.4.1.1.6"
set = { state = "bad" }
`), testCodecs)
	require.NoError(t, err)
	var top *gateway.Profile
	for _, p := range ps {
		if p.Name == "top" {
			top = p
		}
	}
	require.Len(t, top.Events, 2)
	require.Equal(t, "b", top.Events[0].Name)
	require.Equal(t, "a", top.Events[1].Name)
	require.Equal(t, map[string]gateway.Value{"state": gateway.String("bad")}, top.Events[0].Set)
	m := top.Events[0].Match.(*snmp.EventMatch)
	require.Equal(t, []string{".1.3.6.1.4.1.1.0.2", ".1.3.6.1.4.1.1.2"}, m.Traps)
	require.Equal(t, []snmp.VarbindCond{{OID: ".1.3.6.1.4.1.1.3", Values: []string{"1", "2"}}, {OID: ".1.3.6.1.4.1.1.4", Values: []string{".1.3.6.1.4.1.1.5"}}}, m.When)
	require.Equal(t, ".1.3.6.1.4.1.1.6", m.Instance)
	c := top.Events[0].Clear.(*snmp.EventMatch)
	require.Equal(t, []string{".1.3.6.1.4.1.1.0.3"}, c.Traps)
	require.Equal(t, m.Instance, c.Instance)
	require.Nil(t, top.Events[1].Clear)
}
