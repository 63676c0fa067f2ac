package snmp

import (
	"fmt"
	"math/big"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/gosnmp/gosnmp"

	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/gateway/protocol"
	"github.com/edgegw/edgegw/internal/tomlx"
)

// A profile's [[profile.event]] tables name the traps its devices send (docs/traps.md):
//
//	[[profile.event]]
//	name = "onBattery"
//	severity = "critical"
//	trap = ".1.3.6.1.2.1.33.2.0.1"                    # snmpTrapOID, or the RFC 3584 form of a v1 trap
//	when = { ".1.3.6.1.2.1.33.1.6.2.1.2" = "..." }     # varbinds that must hold these values
//	clear = ".1.3.6.1.2.1.33.2.0.4"                    # the trap that ends the condition
//	clear_when = { ".1.3.6.1.2.1.33.1.6.2.1.2" = "..." }
//	instance = ".1.3.6.1.2.1.2.2.1.1"                  # the varbind that tells conditions apart
//	set = { outputSource = "battery" }                 # reported values the event implies

// EventMatch says which traps are an event (or end it): the trap OID is one of Traps and every When
// condition holds.
type EventMatch struct {
	Traps []string      `json:"traps"`
	When  []VarbindCond `json:"when,omitempty"`
	// Instance is the varbind (an OID prefix) whose value tells conditions of one name apart.
	Instance string `json:"instance,omitempty"`
}

// String says what the match is, for `edgegw profile show`: "trap .1.3... when .1.3...=2|3".
func (m *EventMatch) String() string {
	var b strings.Builder
	b.WriteString("trap " + strings.Join(m.Traps, " or "))
	for i, c := range m.When {
		if i == 0 {
			b.WriteString(" when ")
		} else {
			b.WriteString(" and ")
		}
		b.WriteString(c.OID + "=" + strings.Join(c.Values, "|"))
	}
	if m.Instance != "" {
		b.WriteString(", one per " + m.Instance)
	}
	return b.String()
}

// VarbindCond holds when a varbind under OID (compared on whole arcs) has one of Values, as text:
// integers in decimal, OIDs dotted with a leading dot, strings as they are.
type VarbindCond struct {
	OID    string   `json:"oid"`
	Values []string `json:"values"`
}

// Well-known OIDs of notifications (SNMPv2-MIB, RFC 3584).
const (
	oidSnmpTrapOID     = ".1.3.6.1.6.3.1.1.4.1.0"
	oidSnmpTrapAddress = ".1.3.6.1.6.3.18.1.3.0"
	oidStandardTraps   = ".1.3.6.1.6.3.1.1.5" // coldStart .1 ... enterpriseSpecific has none
	// unmappedName is the name of a trap no profile names.
	unmappedName = "snmpTrap"
)

var _ protocol.EventCodec = profileCodec{}

func (profileCodec) EventKeys() []string {
	return []string{"trap", "when", "clear", "clear_when", "instance"}
}

func (profileCodec) Event(t tomlx.Table, what string) (match, clear any) {
	traps := oidList(t, "trap")
	if len(traps) == 0 {
		if !t.Has("trap") {
			t.Errorf("", "%s has no trap (the trap OID it is sent as)", what)
		}
		return nil, nil
	}
	m := &EventMatch{Traps: traps, When: conditions(t, "when")}
	if t.Has("instance") {
		if o, ok := oidKey(t, "instance"); ok {
			m.Instance = o
		}
	}
	if !t.Has("clear") {
		if t.Has("clear_when") {
			t.KeyErrorf("clear_when", "clear_when narrows clear: it needs clear")
		}
		return m, nil
	}
	ct := oidList(t, "clear")
	if len(ct) == 0 {
		return m, nil
	}
	for _, c := range ct {
		if slices.Contains(traps, c) && !t.Has("when") && !t.Has("clear_when") {
			t.Errorf("clear", "%s is both the trap and its clear: tell them apart with when / clear_when", c)
		}
	}
	return m, &EventMatch{Traps: ct, When: conditions(t, "clear_when"), Instance: m.Instance}
}

// oidList reads a key that holds one OID or an array of them.
func oidList(t tomlx.Table, key string) []string {
	if _, isString := t.M[key].(string); isString {
		if o, ok := oidKey(t, key); ok {
			return []string{o}
		}
		return nil
	}
	if !t.Has(key) {
		return nil
	}
	if _, isArray := t.M[key].([]any); !isArray {
		t.Errorf(key, "must be an OID or an array of OIDs, got %s", tomlx.Describe(t.M[key], true))
		return nil
	}
	vals, paths := t.Strings(key)
	var out []string
	for i, v := range vals {
		o, err := gateway.ParseOID(v)
		if err != nil {
			t.Doc.Errorf(paths[i], "oid %q %v", v, err)
			continue
		}
		out = append(out, o)
	}
	if len(out) == 0 && len(vals) == 0 {
		t.Errorf(key, "is empty")
	}
	return out
}

// conditions reads when = { "OID" = value, "OID" = [value, ...] }.
func conditions(t tomlx.Table, key string) []VarbindCond {
	w, ok := t.Sub(key)
	if !ok {
		return nil
	}
	if len(w.M) == 0 {
		w.Errorf("", "%s is empty: leave it out", key)
	}
	var out []VarbindCond
	for _, k := range w.Keys() {
		o, err := gateway.ParseOID(k)
		if err != nil {
			w.KeyErrorf(k, "%s key %q: oid %v (quote it: \"1.3.6...\" = value)", key, k, err)
			continue
		}
		c := VarbindCond{OID: o}
		raw := w.M[k]
		list, isList := raw.([]any)
		if !isList {
			list = []any{raw}
		}
		for _, v := range list {
			switch x := v.(type) {
			case int64:
				c.Values = append(c.Values, strconv.FormatInt(x, 10))
			case string:
				if oo, err := gateway.ParseOID(x); err == nil && strings.HasPrefix(x, ".") {
					x = oo
				}
				c.Values = append(c.Values, x)
			default:
				w.Errorf(k, "must be an integer, a string or an array of them, got %s", tomlx.Describe(v, true))
			}
		}
		if len(c.Values) == 0 {
			w.Errorf(k, "lists no value")
			continue
		}
		out = append(out, c)
	}
	return out
}

// notification is a trap or inform as received, in the terms profiles match on.
type notification struct {
	trapOID string
	// altOID is the other spelling of a v1 enterprise-specific trap: ENTERPRISE.SPECIFIC, as an SMIv2
	// MIB names a notification that is not under a .0 arc (UPS-MIB's upsTrapOnBattery is
	// .1.3.6.1.2.1.33.2.1, sent as v1 with enterprise .1.3.6.1.2.1.33.2 and specific 1, which RFC 3584
	// turns into .1.3.6.1.2.1.33.2.0.1).
	altOID   string
	varbinds []gateway.Varbind
	// agent is a v1 trap's agent address (or snmpTrapAddress.0 of a proxied one).
	agent netip.Addr
}

// varbind returns the text value of the first varbind under oid (on whole arcs).
func (n *notification) varbind(oid string) (string, bool) {
	for _, v := range n.varbinds {
		if hasArcPrefix(v.OID, oid) {
			return v.Value, true
		}
	}
	return "", false
}

// oids are the notification's trap OIDs, the RFC 3584 one first.
func (n *notification) oids() []string {
	if n.altOID == "" {
		return []string{n.trapOID}
	}
	return []string{n.trapOID, n.altOID}
}

// matches reports whether the notification is what m describes.
func (n *notification) matches(m *EventMatch) bool {
	if m == nil || !slices.Contains(m.Traps, n.trapOID) && (n.altOID == "" || !slices.Contains(m.Traps, n.altOID)) {
		return false
	}
	for _, c := range m.When {
		ok := false
		for _, v := range n.varbinds {
			if hasArcPrefix(v.OID, c.OID) && slices.Contains(c.Values, v.Value) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// instance is the value that tells conditions of m apart ("" when m names none or it is absent).
func (n *notification) instance(m *EventMatch) string {
	if m == nil || m.Instance == "" {
		return ""
	}
	v, _ := n.varbind(m.Instance)
	return v
}

// fromPacket turns a decoded trap or inform into a notification: RFC 3584 3.1 for v1 traps (generic
// traps become .1.3.6.1.6.3.1.1.5.N, enterprise-specific ones ENTERPRISE.0.SPECIFIC), snmpTrapOID.0
// for v2c/v3. The first two varbinds of a v2 notification (sysUpTime.0, snmpTrapOID.0) are not kept.
func fromPacket(p *gosnmp.SnmpPacket) (notification, error) {
	var n notification
	vbs := p.Variables
	if p.PDUType == gosnmp.Trap {
		ent := normOID(p.Enterprise)
		switch {
		case p.GenericTrap >= 0 && p.GenericTrap < 6:
			n.trapOID = fmt.Sprintf("%s.%d", oidStandardTraps, p.GenericTrap+1)
		case p.GenericTrap == 6 && ent != "." && ent != "":
			n.trapOID = fmt.Sprintf("%s.0.%d", ent, p.SpecificTrap)
			n.altOID = fmt.Sprintf("%s.%d", ent, p.SpecificTrap)
		default:
			return n, fmt.Errorf("v1 trap with generic-trap %d, enterprise %q", p.GenericTrap, p.Enterprise)
		}
		if a, err := netip.ParseAddr(p.AgentAddress); err == nil && !a.IsUnspecified() {
			n.agent = a.Unmap()
		}
	} else {
		found := false
		for i, v := range vbs {
			if normOID(v.Name) == oidSnmpTrapOID {
				if s, ok := v.Value.(string); ok && s != "" {
					n.trapOID = normOID(s)
					found = true
				}
				vbs = slices.Delete(slices.Clone(vbs), i, i+1)
				break
			}
		}
		if !found {
			return n, fmt.Errorf("%s without snmpTrapOID.0", pduName(p.PDUType))
		}
	}
	if _, err := gateway.ParseOID(n.trapOID); err != nil {
		return n, fmt.Errorf("trap oid %q %v", n.trapOID, err)
	}
	for _, v := range vbs {
		name := normOID(v.Name)
		if name == oidSysUpTime {
			continue
		}
		typ, val := varbindText(v)
		n.varbinds = append(n.varbinds, gateway.Varbind{OID: name, Type: typ, Value: val})
		if name == oidSnmpTrapAddress && !n.agent.IsValid() {
			if a, err := netip.ParseAddr(val); err == nil && !a.IsUnspecified() {
				n.agent = a.Unmap()
			}
		}
	}
	return n, nil
}

// maxVarbinds bounds what an event keeps of a notification.
const maxVarbinds = 64

// varbindText is a varbind's type and value as text: integers in decimal, OIDs with a leading dot,
// strings as text (hex when not printable), capped.
func varbindText(v gosnmp.SnmpPDU) (string, string) {
	switch v.Type {
	case gosnmp.Integer:
		return "integer", fmt.Sprint(v.Value)
	case gosnmp.OctetString, gosnmp.BitString, gosnmp.Opaque:
		return "string", rawText(v.Value)
	case gosnmp.ObjectIdentifier:
		s, _ := v.Value.(string)
		return "oid", normOID(s)
	case gosnmp.IPAddress:
		return "ip", fmt.Sprint(v.Value)
	case gosnmp.Counter32, gosnmp.Counter64:
		return "counter", bigText(v.Value)
	case gosnmp.Gauge32, gosnmp.Uinteger32:
		return "gauge", fmt.Sprint(v.Value)
	case gosnmp.TimeTicks:
		return "timeticks", fmt.Sprint(v.Value)
	case gosnmp.Null, gosnmp.NoSuchObject, gosnmp.NoSuchInstance, gosnmp.EndOfMibView:
		return "null", ""
	}
	return strings.ToLower(v.Type.String()), rawText(v.Value)
}

func bigText(v any) string {
	if b, ok := v.(*big.Int); ok && b != nil {
		return b.String()
	}
	return fmt.Sprint(v)
}

func pduName(t gosnmp.PDUType) string {
	switch t {
	case gosnmp.Trap:
		return "v1 trap"
	case gosnmp.SNMPv2Trap:
		return "trap"
	case gosnmp.InformRequest:
		return "inform"
	}
	return fmt.Sprintf("PDU %#x", byte(t))
}

// rules finds the event rules for a device's traps: its profile's own (with its bases'), then every
// other SNMP profile's, since a trap OID means the same whoever sends it. Only a rule of the device's
// own profile may set reported values: the others may name points the device does not have.
type rules struct {
	byProfile map[string]map[string][]*ruleRef // profile name -> trap OID -> rules in precedence order
	global    map[string][]*ruleRef            // trap OID -> rules of every profile, deduplicated
	clears    map[string][]*ruleRef            // trap OID -> rules it may clear, of every profile
}

type ruleRef struct {
	rule  *gateway.EventRule
	match *EventMatch
	clear *EventMatch
}

func newRules(ps gateway.Profiles) *rules {
	r := &rules{byProfile: map[string]map[string][]*ruleRef{}, global: map[string][]*ruleRef{}, clears: map[string][]*ruleRef{}}
	if ps == nil {
		return r
	}
	seen := map[*EventMatch]bool{}
	for _, p := range ps.List() {
		if p.Protocol != Protocol || len(p.Events) == 0 {
			continue
		}
		own := map[string][]*ruleRef{}
		for i := range p.Events {
			e := &p.Events[i]
			m, ok := e.Match.(*EventMatch)
			if !ok {
				continue
			}
			c, _ := e.Clear.(*EventMatch)
			ref := &ruleRef{rule: e, match: m, clear: c}
			for _, t := range m.Traps {
				own[t] = append(own[t], ref)
			}
			if seen[m] {
				continue // a base's rule, met again in a profile that extends it
			}
			seen[m] = true
			for _, t := range m.Traps {
				r.global[t] = append(r.global[t], ref)
			}
			if c != nil {
				for _, t := range c.Traps {
					r.clears[t] = append(r.clears[t], ref)
				}
			}
		}
		r.byProfile[p.Name] = own
	}
	return r
}

// event names a notification of a device whose profile is profile: the first rule of the profile that
// matches, else the first of any profile, else the unmapped event; and the conditions it clears.
func (r *rules) event(n *notification, profile string) gateway.Event {
	e := gateway.Event{Name: unmappedName, Severity: gateway.SeverityInfo, TrapOID: n.trapOID, Protocol: Protocol}
	var hit *ruleRef
	own := false
	find := func(index map[string][]*ruleRef) {
		for _, oid := range n.oids() {
			for _, ref := range index[oid] {
				if hit == nil && n.matches(ref.match) {
					hit, e.TrapOID = ref, oid
				}
			}
		}
	}
	if find(r.byProfile[profile]); hit != nil {
		own = true
	} else {
		find(r.global)
	}
	if hit != nil {
		e.Name, e.Severity, e.Description, e.Mapped = hit.rule.Name, hit.rule.Severity, hit.rule.Description, true
		e.Condition = hit.clear != nil
		e.Instance = n.instance(hit.match)
		if own {
			e.Set = hit.rule.Set
		}
	}
	var clears []*ruleRef
	for _, oid := range n.oids() {
		clears = append(clears, r.clears[oid]...)
	}
	for _, ref := range clears {
		if n.matches(ref.clear) {
			c := ref.rule.Name
			if inst := n.instance(ref.clear); inst != "" {
				c += "[" + inst + "]"
			}
			if !slices.Contains(e.Clears, c) {
				e.Clears = append(e.Clears, c)
			}
		}
	}
	if hit == nil && len(e.Clears) > 0 {
		name, _, _ := strings.Cut(e.Clears[0], "[")
		e.Name, e.Mapped = name+"Cleared", true
	}
	e.Varbinds = n.varbinds
	if len(e.Varbinds) > maxVarbinds {
		e.Varbinds = e.Varbinds[:maxVarbinds]
	}
	return e
}
