package main

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/config"
	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/internal/peers"
	"github.com/edgegw/edgegw/sim"
)

// TestSNMPAndMDNSOneDevice: a simulated display and projector answer SNMP on loopback and announce
// themselves over mDNS, inside a namespace of the test's own; the gateway, with both drivers, makes one
// device of each, listing both protocols and addresses, with identity and readings from both.
func TestSNMPAndMDNSOneDevice(t *testing.T) {
	ns := peers.LoopbackNetns(t)
	if !peers.InNetns(t, ns) {
		return
	}
	site, err := sim.Start(t.Context(), sim.Options{N: 2, Listen: "127.0.10.0/29", BasePort: 16100})
	require.NoError(t, err)
	defer site.Close()
	resp, err := sim.StartMDNS(sim.MDNSOptions{Netns: ns, Devices: site.Devices()})
	require.NoError(t, err)
	defer resp.Close()

	cfg := config.Default()
	for i, d := range site.Devices() {
		require.NoError(t, protocols().addTarget(cfg, "snmp://"+d.Addr.String(), i))
	}
	require.NoError(t, protocols().addTarget(cfg, "mdns://_pjlink._tcp?interface=lo&timeout=1s", 9))
	lib, err := protocols().loadProfiles(nil)
	require.NoError(t, err)
	drv, err := protocols().newDrivers(cfg, lib, slog.New(slog.DiscardHandler), nil)
	require.NoError(t, err)
	defer drv.Close()
	var audits []gateway.AuditEntry
	g, err := gateway.New(gateway.Options{Discoverers: drv.discoverers, Pollers: drv.pollers, Profiles: lib, Ranks: protocols().ranks(),
		Sink: gateway.SinkFuncs{OnAudit: func(e gateway.AuditEntry) { audits = append(audits, e) }}})
	require.NoError(t, err)
	res, err := g.Discover(t.Context())
	require.NoError(t, err)
	require.Empty(t, res.Errors)
	require.Len(t, res.Sightings, 4, "two devices, each over two protocols")

	twins := g.Twins()
	require.Len(t, twins, 2, "one device per MAC")
	for _, d := range site.Devices() {
		id := "mac-" + strings.ReplaceAll(d.MAC, ":", "")
		tw, ok := g.Twin(id)
		require.True(t, ok, id)
		require.Equal(t, []string{"mdns", "snmp"}, tw.Identity.Protocols)
		require.Equal(t, []string{"mdns://" + d.Addr.Addr().String(), "snmp://" + d.Addr.String()}, tw.Identity.Addresses)
		require.Equal(t, d.Serial, tw.Identity.Serial)
		require.Equal(t, d.Hostname, tw.Identity.Hostname)
		require.Equal(t, "acme-"+d.Kind, tw.Profile, "SNMP's profile ranks first")
		require.NoError(t, g.PollNow(t.Context(), id))
		tw, _ = g.Twin(id)
		require.Equal(t, gateway.String(map[string]string{"display": "1", "projector": "2"}[d.Kind]),
			tw.Reported.Values["pjlinkClass"], "read over mDNS")
		require.Contains(t, tw.Reported.Values, "uptimeSeconds", "read over SNMP")
	}
	for _, a := range audits {
		require.NotEqual(t, "identity conflict", a.Action, fmt.Sprint(a))
	}
}
