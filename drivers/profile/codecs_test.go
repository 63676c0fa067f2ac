package profile

import (
	"github.com/edgegw/edgegw/drivers/mdns"
	"github.com/edgegw/edgegw/drivers/modbus"
	"github.com/edgegw/edgegw/drivers/snmp"
)

// testCodecs are every protocol's profile codec, as the daemon has them.
var testCodecs = Codecs{
	snmp.Protocol:   snmp.Spec().Profile,
	modbus.Protocol: modbus.Spec().Profile,
	mdns.Protocol:   mdns.Spec().Profile,
}
