package modbus

import (
	"fmt"

	"github.com/edgegw/edgegw/config"
	"github.com/edgegw/edgegw/gateway/protocol"
	"github.com/edgegw/edgegw/internal/neigh"
)

// Spec describes Modbus to the rest of the gateway: [[discovery.modbus]] tables, modbus:// targets,
// profiles whose points are registers. Modbus ranks after SNMP on identity and before mDNS: function
// 43/14 and SunSpec are the device's own words, but fewer devices say them.
func Spec() protocol.Spec {
	return protocol.Spec{
		Name:    Protocol,
		Rank:    20,
		Config:  config.TableCodec{Name: Protocol, Many: true, Decode: decodeTable, Keys: tableKeys},
		Target:  targetTable,
		Profile: profileCodec{},
		New: func(o protocol.Options) (protocol.Driver, error) {
			tables := make([]Table, 0, len(o.Tables))
			for _, t := range o.Tables {
				tc, ok := t.(*TableConfig)
				if !ok {
					return nil, fmt.Errorf("modbus: a %T is not a Modbus table", t)
				}
				tables = append(tables, tc.table())
			}
			return New(Options{Tables: tables, Profiles: o.Profiles, MaxAddresses: o.MaxAddresses,
				Neighbors: neigh.Lookup, Logger: o.Logger})
		},
	}
}
