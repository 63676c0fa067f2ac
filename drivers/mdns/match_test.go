package mdns

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/drivers/profile"
	"github.com/edgegw/edgegw/gateway"
)

func TestMatchService(t *testing.T) {
	lib, err := profile.Load(nil, profile.Codecs{Protocol: Spec().Profile})
	require.NoError(t, err)
	name := func(p *gateway.Profile) string {
		if p == nil {
			return ""
		}
		return p.Name
	}
	for svc, want := range map[string]string{
		"_pjlink._tcp": "acme-display-mdns", "_PJLink._tcp.local.": "acme-display-mdns", "_ipps._tcp": "ipp-printer",
		"_airplay._tcp": "apple-airplay", "_nothing._tcp": "",
	} {
		require.Equal(t, want, name(matchService(lib, svc)), svc)
	}
}
