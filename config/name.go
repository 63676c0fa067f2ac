package config

// SetName names a table that did not come from a file (an ad-hoc `discover --target`), so its
// sightings carry a credential reference like the loaded ones ("discovery.snmp[0]").
func (s *SNMP) SetName(name string) { s.name = name }
