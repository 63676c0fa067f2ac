package gateway

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func queryGateway(t *testing.T) *Gateway {
	g, err := New(Options{})
	require.NoError(t, err)
	for i, k := range []string{"display", "ups", "", "display", "pdu"} {
		proto := "snmp"
		if i == 4 {
			proto = "modbus"
		}
		g.Observe(Sighting{Protocol: proto, Address: fmt.Sprintf("127.0.0.1:%d", 100+i), Identity: Identity{
			MAC: fmt.Sprintf("02:00:00:00:00:%02x", i+1), Serial: fmt.Sprintf("SN-%d", i), Manufacturer: "Ünïcode Corp",
			Model: fmt.Sprintf("M%d", 5-i), Kind: k, IP: fmt.Sprintf("127.0.10.%d", i+1)}})
	}
	g.twins.update("mac-020000000002", func(t *Twin) {
		t.Connectivity.LastError = "no answer"
		t.Connectivity.State = StateOffline
	})
	g.twins.update("mac-020000000003", func(t *Twin) { t.Claim.State = ClaimClaimed })
	return g
}

func ids(p DevicePage) []string {
	var out []string
	for _, t := range p.Devices {
		out = append(out, t.DeviceID)
	}
	return out
}

func TestQueryDevices(t *testing.T) {
	g := queryGateway(t)
	all := []string{"mac-020000000001", "mac-020000000002", "mac-020000000003", "mac-020000000004", "mac-020000000005"}
	for _, tc := range []struct {
		name  string
		q     DeviceQuery
		want  []string
		total int
	}{
		{"all by id", DeviceQuery{}, all, 5},
		{"desc, paged", DeviceQuery{Desc: true, Offset: 1, Limit: 2}, []string{all[3], all[2]}, 5},
		{"past the end", DeviceQuery{Offset: 10, Limit: 2}, nil, 5},
		{"kind", DeviceQuery{DeviceFilter: DeviceFilter{Kind: "display"}}, []string{all[0], all[3]}, 2},
		{"no kind is other", DeviceQuery{DeviceFilter: DeviceFilter{Kind: "other"}}, []string{all[2]}, 1},
		{"protocol", DeviceQuery{DeviceFilter: DeviceFilter{Protocol: "modbus"}}, []string{all[4]}, 1},
		{"claim state", DeviceQuery{DeviceFilter: DeviceFilter{ClaimState: ClaimClaimed}}, []string{all[2]}, 1},
		{"unclaimed", DeviceQuery{DeviceFilter: DeviceFilter{ClaimState: ClaimUnclaimed}, Limit: 1}, []string{all[0]}, 4},
		{"connectivity", DeviceQuery{DeviceFilter: DeviceFilter{Connectivity: StateOffline}}, []string{all[1]}, 1},
		{"failing", DeviceQuery{DeviceFilter: DeviceFilter{Failing: true}}, []string{all[1]}, 1},
		{"text in another case", DeviceQuery{DeviceFilter: DeviceFilter{Text: "sn-3"}}, []string{all[3]}, 1},
		{"text in a MAC", DeviceQuery{DeviceFilter: DeviceFilter{Text: "00:05"}}, []string{all[4]}, 1},
		{"text, not ASCII", DeviceQuery{DeviceFilter: DeviceFilter{Text: "ÜNÏCODE"}, Limit: 1}, []string{all[0]}, 5},
		{"text, IP", DeviceQuery{DeviceFilter: DeviceFilter{Text: "127.0.10.2"}}, []string{all[1]}, 1},
		{"no match", DeviceQuery{DeviceFilter: DeviceFilter{Text: "zzz"}}, nil, 0},
		{"sort by model", DeviceQuery{Sort: SortModel, Limit: 2}, []string{all[4], all[3]}, 5},
		{"sort by model, desc", DeviceQuery{Sort: SortModel, Desc: true, Limit: 2}, []string{all[0], all[1]}, 5},
		{"sort by kind, ties by id", DeviceQuery{Sort: SortKind}, []string{all[2], all[0], all[3], all[4], all[1]}, 5},
		{"sort and filter and page", DeviceQuery{Sort: SortIP, Desc: true, Offset: 1, DeviceFilter: DeviceFilter{Protocol: "snmp"}}, []string{all[2], all[1], all[0]}, 4},
		{"sort by last seen", DeviceQuery{Sort: SortLastSeen, Limit: 1}, []string{all[0]}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := g.QueryDevices(tc.q)
			require.NoError(t, err)
			require.Equal(t, tc.want, ids(p))
			require.Equal(t, tc.total, p.Total)
		})
	}
	_, err := g.QueryDevices(DeviceQuery{Sort: "price"})
	require.ErrorContains(t, err, `sort "price" is not one of id, manufacturer`)
	_, err = g.QueryDevices(DeviceQuery{Offset: -1})
	require.Error(t, err)

	// A page is a copy: changing it changes nothing in the gateway.
	p, _ := g.QueryDevices(DeviceQuery{Limit: 1})
	p.Devices[0].Identity.Protocols[0] = "changed"
	again, _ := g.QueryDevices(DeviceQuery{Limit: 1})
	require.Equal(t, "snmp", again.Devices[0].Identity.Protocols[0])

	// A device discovered later is in the next query.
	g.Observe(Sighting{Protocol: "snmp", Address: "127.0.0.1:1", Identity: Identity{MAC: "02:00:00:00:00:00"}})
	p, _ = g.QueryDevices(DeviceQuery{Limit: 1})
	require.Equal(t, "mac-020000000000", p.Devices[0].DeviceID)
	require.Equal(t, 6, p.Total)
}

func TestSummary(t *testing.T) {
	g := queryGateway(t)
	s := g.Summary()
	require.Equal(t, 5, s.Devices)
	require.Equal(t, map[string]int{ClaimUnclaimed: 4, ClaimClaimed: 1}, s.ByClaimState)
	require.Equal(t, map[string]int{StateOnline: 4, StateOffline: 1}, s.ByConnectivity)
	require.Equal(t, map[string]int{"snmp": 4, "modbus": 1}, s.ByProtocol)
	require.Equal(t, map[string]int{"display": 2, "ups": 1, "other": 1, "pdu": 1}, s.ByKind)
	require.Equal(t, 1, s.Failing)
	n := 0
	for _, gr := range s.Groups {
		n += gr.Devices
	}
	require.Equal(t, 5, n)
	require.Equal(t, SummaryGroup{ClaimState: ClaimClaimed, Connectivity: StateOnline, Kind: "other", Devices: 1}, s.Groups[0])
}

func TestContainsFold(t *testing.T) {
	for _, tc := range []struct {
		s, sub string
		want   bool
	}{
		{"SIM-DP55-000123", "dp55", true}, {"abc", "", true}, {"abc", "abcd", false}, {"aBc", "BC", true},
		{"x", "y", false}, {"Ünïcode", "ÜNÏ", true}, {"[email]", "MAIL]", true}, {"ab", "b", true},
	} {
		require.Equal(t, tc.want, containsFold(tc.s, tc.sub), "%q in %q", tc.sub, tc.s)
	}
}
