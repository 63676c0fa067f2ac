package mdns

import (
	"regexp"
	"slices"
	"strings"

	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/internal/tomlx"
)

// TXTKey is where an mDNS point lives: a key of the device's TXT records, compared without case.
type TXTKey string

func (k TXTKey) String() string { return "txt:" + string(k) }

// txtOf is a point's TXT key; "" for a point of another protocol.
func txtOf(p *gateway.Point) string {
	k, _ := p.Address.(TXTKey)
	return string(k)
}

// Match is an mDNS profile's match condition: the device announces any of these service types.
type Match struct {
	Services []string `json:"services"`
}

// Identity names, per identity field, the TXT keys that hold it, tried in order.
type Identity map[string][]string

var (
	serviceRE = regexp.MustCompile(`^_[A-Za-z0-9][A-Za-z0-9-]{0,62}\._(tcp|udp)$`)
	txtKeyRE  = regexp.MustCompile(`^[\x21-\x3c\x3e-\x7e]{1,64}$`) // printable ASCII but '=' (RFC 6763 §6.4)
)

// profileCodec reads the mDNS parts of device profiles.
type profileCodec struct{}

func (profileCodec) AddressKeys(bool) []string { return []string{"txt"} }

func (profileCodec) Address(t tomlx.Table, what string, method bool) gateway.Address {
	if method {
		t.Errorf("", "mDNS devices take no methods: mDNS only announces")
		return nil
	}
	s, present := t.String("txt")
	if !present {
		if !t.Has("txt") {
			t.Errorf("", "%s has no txt key", what)
		}
		return nil
	}
	k, ok := txtKey(t.Doc, t.Key("txt"), s)
	if !ok {
		return nil
	}
	return TXTKey(k)
}

// txtKey checks an mDNS TXT key and returns it lower-cased (TXT keys compare case-insensitively).
func txtKey(d *tomlx.Doc, key, s string) (string, bool) {
	if !txtKeyRE.MatchString(s) {
		d.Errorf(key, "TXT key %q: 1 to 64 printable ASCII characters without '='", s)
		return "", false
	}
	return strings.ToLower(s), true
}

func (profileCodec) DefaultType(gateway.Address) gateway.ValueType { return gateway.TypeString }

func (profileCodec) CheckPoint(t tomlx.Table, p *gateway.Point) {
	if p.Writable {
		t.Errorf("writable", "mDNS values cannot be written: mDNS only announces")
	}
}

func (profileCodec) MatchKeys() []string { return []string{"services"} }

func (profileCodec) Match(t tomlx.Table) any {
	m := &Match{}
	svcs, paths := t.Strings("services")
	for i, s := range svcs {
		s = strings.TrimSuffix(strings.TrimSuffix(s, "."), ".local")
		if !serviceRE.MatchString(s) {
			t.Doc.Errorf(paths[i], "service type %q: write it as _name._tcp or _name._udp", svcs[i])
			continue
		}
		m.Services = append(m.Services, strings.ToLower(s))
	}
	if len(m.Services) == 0 {
		return nil
	}
	return m
}

func (profileCodec) IdentityKeys() []string { return slices.Clone(gateway.IdentityFields) }

func (profileCodec) Identity(t tomlx.Table) any {
	id := Identity{}
	for _, f := range gateway.IdentityFields {
		v, present := t.M[f]
		if !present {
			continue
		}
		var keys, paths []string
		if s, ok := v.(string); ok {
			keys, paths = []string{s}, []string{t.Key(f)}
		} else {
			keys, paths = t.Strings(f)
		}
		for i, k := range keys {
			if k, ok := txtKey(t.Doc, paths[i], k); ok {
				id[f] = append(id[f], k)
			}
		}
	}
	if len(id) == 0 {
		return nil
	}
	return id
}

func (profileCodec) MergeIdentity(dst, from any) any {
	f, _ := from.(Identity)
	if len(f) == 0 {
		return dst
	}
	out := Identity{}
	if d, ok := dst.(Identity); ok {
		for k, v := range d {
			out[k] = slices.Clone(v)
		}
	}
	for k, v := range f {
		out[k] = slices.Clone(v)
	}
	return out
}

// matchService returns the mDNS profile for a service type ("_pjlink._tcp", compared without case and
// without a trailing ".local."): the first by name that lists it, or nil.
func matchService(ps gateway.Profiles, service string) *gateway.Profile {
	if ps == nil {
		return nil
	}
	service = strings.ToLower(strings.TrimSuffix(strings.TrimSuffix(service, "."), ".local"))
	for _, p := range ps.List() { // sorted by name
		if m, ok := p.Match.(*Match); ok && p.Protocol == Protocol && slices.Contains(m.Services, service) {
			return p
		}
	}
	return nil
}

func (m *Match) String() string { return "mDNS " + strings.Join(m.Services, ",") }

// Describe lists the TXT keys of each identity field.
func (id Identity) Describe() []string {
	var out []string
	for _, f := range gateway.IdentityFields {
		if keys := id[f]; len(keys) > 0 {
			out = append(out, f+": TXT "+strings.Join(keys, " or "))
		}
	}
	return out
}
