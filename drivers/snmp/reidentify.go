package snmp

import (
	"context"
	"fmt"
	"time"

	"github.com/edgegw/edgegw/gateway"
)

var _ gateway.Reidentifier = (*Driver)(nil)

// Reidentify reads a known device's serial again, live, through the endpoint it was discovered at: the
// serial handshake of a claim. When the last identity read found the serial in one object as it is,
// only that object is read (one GET: a 50,000-row claim import would otherwise repeat 50,000 identity
// reads of several requests each); when that gives no serial, or the device was never identified by
// this process, the whole identity is read. So is it when that object now holds a serial other than
// the one read there last (an ENTITY-MIB row renumbered after a reboot): the whole read finds where
// the serial is now, where trusting the one object would refuse a valid claim for as long as the
// process runs.
func (d *Driver) Reidentify(ctx context.Context, ep gateway.Endpoint) (gateway.Sighting, error) {
	g, err := d.group(ep.Credential)
	if err != nil {
		return gateway.Sighting{}, fmt.Errorf("snmp %s: %w", ep.Address, err)
	}
	if at, ok := d.serialAt.Load(serialKey(g.Name, ep.Address)); ok {
		at := at.(serialPlace)
		if s, ok := d.quickSerial(ctx, ep, g, at.oid); ok && s.Identity.Serial == at.serial {
			return s, nil
		}
	}
	return d.Identify(ctx, ep.Address, &g.Credentials, g.Timeout, g.Retries)
}

func serialKey(credential, addr string) string { return credential + "|" + addr }

// serialPlace is the object an agent's serial was read from as it is, and the serial read there.
type serialPlace struct{ oid, serial string }

// rememberSerial notes where an agent keeps its serial, and which, for Reidentify.
func (d *Driver) rememberSerial(credential, addr, serial, oid string) {
	if serial == "" || oid == "" {
		d.serialAt.Delete(serialKey(credential, addr))
		return
	}
	d.serialAt.Store(serialKey(credential, addr), serialPlace{oid: oid, serial: serial})
}

// quickSerial reads the serial from the one object it was found in; ok is false when that gives none
// (the caller then reads the whole identity, which also says why).
func (d *Driver) quickSerial(ctx context.Context, ep gateway.Endpoint, g *Group, oid string) (gateway.Sighting, bool) {
	cl, err := d.open(ctx, ep.Address, &g.Credentials, g.Timeout, g.Retries)
	if err != nil {
		return gateway.Sighting{}, false
	}
	defer cl.done()
	vals, err := cl.get([]string{oid})
	if err != nil {
		return gateway.Sighting{}, false
	}
	v, err := text(vals[oid])
	serial := usable(v)
	if err != nil || serial == "" {
		return gateway.Sighting{}, false
	}
	s := gateway.Sighting{Protocol: Protocol, Address: ep.Address, Credential: ep.Credential, Seen: time.Now()}
	s.Identity.Serial = serial
	s.Tried = []gateway.IdentityAttempt{{Field: "serial", Source: oidName(oid), Value: serial, Used: true}}
	return s, true
}
