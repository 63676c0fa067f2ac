// Package echo is a protocol driver for tests only: devices that live in memory, described in the
// configuration. It exists to show that a protocol is one folder and one line of wiring: it brings its
// own [discovery.echo] tables, echo:// targets and profile sections (points at `key = "..."`, profiles
// matched by `models = [...]`), and is discovered, polled and written through the real daemon.
package echo

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/edgegw/edgegw/config"
	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/gateway/protocol"
	"github.com/edgegw/edgegw/internal/tomlx"
)

// Protocol is the protocol's name.
const Protocol = "echo"

// Device is one in-memory device of a table.
type Device struct {
	Name   string `toml:"name"`
	MAC    string `toml:"mac"`
	Serial string `toml:"serial"`
	Model  string `toml:"model"`
}

// Table is one [[discovery.echo]] table.
type Table struct {
	Devices []Device `toml:"devices"`
	name    string
}

func (t *Table) Name() string           { return t.name }
func (t *Table) Sweep() []config.Target { return nil }

// Key is where an echo point lives: a key of the device's memory.
type Key string

func (k Key) String() string { return "key " + string(k) }

// Match is an echo profile's condition: the device's model is one of Models.
type Match struct {
	Models []string `json:"models"`
}

// Spec describes the protocol to the gateway.
func Spec() protocol.Spec {
	return protocol.Spec{
		Name: Protocol,
		Rank: 40,
		Config: config.TableCodec{Name: Protocol, Many: true, Keys: []string{"devices"},
			Decode: func(t tomlx.Table, _ *config.Env) config.Table {
				tb := &Table{name: t.Path}
				tomlx.Decode(t, tb)
				for i, d := range tb.Devices {
					if d.Name == "" {
						t.Doc.Errorf(tomlx.JoinIndex(t.Key("devices"), i), "a device needs a name")
					}
				}
				return tb
			}},
		Target: func(u *url.URL, index int) (config.Table, error) {
			q := u.Query()
			return &Table{name: fmt.Sprintf("target[%d]", index), Devices: []Device{{Name: u.Host,
				MAC: q.Get("mac"), Serial: q.Get("serial"), Model: q.Get("model")}}}, nil
		},
		Profile: codec{},
		New: func(o protocol.Options) (protocol.Driver, error) {
			d := &Driver{profiles: o.Profiles, log: o.Logger, mem: map[string]map[string]gateway.Value{}}
			for _, t := range o.Tables {
				d.devices = append(d.devices, t.(*Table).Devices...)
			}
			return d, nil
		},
	}
}

type codec struct{}

func (codec) AddressKeys(bool) []string { return []string{"key"} }

func (codec) Address(t tomlx.Table, what string, _ bool) gateway.Address {
	k, ok := t.String("key")
	if !ok || k == "" {
		t.Errorf("", "%s has no key", what)
		return nil
	}
	return Key(k)
}

func (codec) DefaultType(gateway.Address) gateway.ValueType { return gateway.TypeString }
func (codec) CheckPoint(tomlx.Table, *gateway.Point)        {}
func (codec) MatchKeys() []string                           { return []string{"models"} }

func (codec) Match(t tomlx.Table) any {
	models, _ := t.Strings("models")
	if len(models) == 0 {
		return nil
	}
	return &Match{Models: models}
}

func (codec) IdentityKeys() []string       { return nil }
func (codec) Identity(tomlx.Table) any     { return nil }
func (codec) MergeIdentity(dst, _ any) any { return dst }

// Driver answers for the configured devices from memory.
type Driver struct {
	profiles gateway.Profiles
	log      *slog.Logger
	devices  []Device
	mu       sync.Mutex
	mem      map[string]map[string]gateway.Value // by device name, key
}

var _ gateway.Writer = (*Driver)(nil)

// Discover reports every configured device, with the echo profile of its model.
func (d *Driver) Discover(ctx context.Context, found func(gateway.Sighting), _ func(gateway.TargetError)) error {
	for _, dev := range d.devices {
		s := gateway.Sighting{Protocol: Protocol, Address: dev.Name, Credential: "echo",
			Identity: gateway.Identity{MAC: dev.MAC, Serial: dev.Serial, Model: dev.Model, Manufacturer: "Echo"}}
		if d.profiles != nil {
			for _, p := range d.profiles.List() {
				if m, ok := p.Match.(*Match); ok && p.Protocol == Protocol && slices.Contains(m.Models, dev.Model) {
					s.Profile = p.Name
					break
				}
			}
		}
		found(s)
	}
	return ctx.Err()
}

// Poll reads each point's key from the device's memory ("unset" until written).
func (d *Driver) Poll(_ context.Context, ep gateway.Endpoint, points []gateway.Point) ([]gateway.Reading, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []gateway.Reading
	for _, p := range points {
		k, ok := p.Address.(Key)
		if !ok {
			continue
		}
		v, set := d.mem[ep.Address][string(k)]
		if !set {
			v = gateway.String("unset")
		}
		out = append(out, gateway.Reading{Name: p.Name, Source: k.String(), Raw: v.String(), Value: v})
	}
	return out, nil
}

// Write stores a value; a key starting with "ro" refuses it, as a read-only object would.
func (d *Driver) Write(_ context.Context, ep gateway.Endpoint, p gateway.Point, v gateway.Value) (gateway.Value, error) {
	k, _ := p.Address.(Key)
	if strings.HasPrefix(string(k), "ro") {
		return gateway.Value{}, &gateway.WriteError{Point: p.Name, Reason: "readOnly", Hint: " (echo keys starting ro are read-only)"}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mem[ep.Address] == nil {
		d.mem[ep.Address] = map[string]gateway.Value{}
	}
	d.mem[ep.Address][string(k)] = v
	return v, nil
}

func (d *Driver) Close() error { return nil }
