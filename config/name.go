package config

// SetName names a table that did not come from a file (an ad-hoc `discover --target`), so its
// sightings carry a credential reference like the loaded ones ("discovery.snmp[0]").
func (s *SNMP) SetName(name string) { s.name = name }

// SetName names a [[discovery.modbus]] table that did not come from a file, like SNMP's.
func (m *Modbus) SetName(name string) { m.name = name }

// NewModbus returns a [[discovery.modbus]] table with its defaults, for tables not read from a file.
func NewModbus() Modbus {
	var m Modbus
	m.SetDefaults()
	return m
}

// NewMDNS returns a [discovery.mdns] table with its defaults.
func NewMDNS() *MDNS {
	var m MDNS
	m.SetDefaults()
	return &m
}
