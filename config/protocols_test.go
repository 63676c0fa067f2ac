package config_test

import (
	"github.com/edgegw/edgegw/config"
	"github.com/edgegw/edgegw/drivers/mdns"
	"github.com/edgegw/edgegw/drivers/modbus"
	"github.com/edgegw/edgegw/drivers/snmp"
)

// codecs are the protocols' table readers, as the daemon has them: the tests read whole configuration
// files, discovery tables included.
var codecs = append([]config.TableCodec{snmp.Spec().Config, modbus.Spec().Config, mdns.Spec().Config}, snmp.Spec().Tables...)

func parse(name string, data []byte) (*config.Config, error) {
	return config.Parse(name, data, codecs...)
}
func load(path string) (*config.Config, error) { return config.Load(path, codecs...) }

func snmpTables(c *config.Config) []*snmp.Table {
	var out []*snmp.Table
	for _, t := range c.Discovery.Tables[snmp.Protocol] {
		out = append(out, t.(*snmp.Table))
	}
	return out
}

func modbusTables(c *config.Config) []*modbus.TableConfig {
	var out []*modbus.TableConfig
	for _, t := range c.Discovery.Tables[modbus.Protocol] {
		out = append(out, t.(*modbus.TableConfig))
	}
	return out
}

func mdnsTable(c *config.Config) *mdns.TableConfig {
	if ts := c.Discovery.Tables[mdns.Protocol]; len(ts) > 0 {
		return ts[0].(*mdns.TableConfig)
	}
	return nil
}
