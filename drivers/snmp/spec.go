package snmp

import (
	"fmt"

	"github.com/edgegw/edgegw/config"
	"github.com/edgegw/edgegw/gateway/protocol"
)

// Spec describes SNMP to the rest of the gateway: [[discovery.snmp]] tables, snmp:// targets, profiles
// whose points are OIDs. SNMP outranks the other protocols on identity: an agent reads the serial from
// the hardware itself.
func Spec() protocol.Spec {
	return protocol.Spec{
		Name:    Protocol,
		Rank:    10,
		Config:  config.TableCodec{Name: Protocol, Many: true, Decode: decodeTable, Keys: tableKeys},
		Tables:  []config.TableCodec{{Name: trapsTable, Top: true, Decode: decodeTraps, Keys: trapsKeys}},
		Target:  targetTable,
		Profile: profileCodec{},
		New: func(o protocol.Options) (protocol.Driver, error) {
			groups := make([]Group, 0, len(o.Tables))
			for _, t := range o.Tables {
				tb, ok := t.(*Table)
				if !ok {
					return nil, fmt.Errorf("snmp: a %T is not an SNMP table", t)
				}
				groups = append(groups, tb.group())
			}
			var traps *TrapOptions
			for _, t := range o.Top[trapsTable] {
				tt, ok := t.(*TrapsTable)
				if !ok {
					return nil, fmt.Errorf("snmp: a %T is not a [traps] table", t)
				}
				traps = tt.trapOptions(groups, o.GatewayID)
			}
			return New(Options{Groups: groups, MaxAddresses: o.MaxAddresses, Concurrency: o.Concurrency,
				ProbeRate: o.ProbeRate, Profiles: o.Profiles, Progress: o.Progress, Logger: o.Logger, Traps: traps})
		},
	}
}
