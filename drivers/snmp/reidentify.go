package snmp

import (
	"context"
	"fmt"

	"github.com/edgegw/edgegw/gateway"
)

var _ gateway.Reidentifier = (*Driver)(nil)

// Reidentify reads a known device's identity again, live, through the endpoint it was discovered at:
// the serial handshake of a claim.
func (d *Driver) Reidentify(ctx context.Context, ep gateway.Endpoint) (gateway.Sighting, error) {
	g, err := d.group(ep.Credential)
	if err != nil {
		return gateway.Sighting{}, fmt.Errorf("snmp %s: %w", ep.Address, err)
	}
	return d.Identify(ctx, ep.Address, &g.Credentials, g.Timeout, g.Retries)
}
