package gateway

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMergeAcrossProtocols(t *testing.T) {
	r := newClaimRig(t)
	snmp := display
	snmp.Identity.Hostname = ""
	mdns := Sighting{Protocol: "mdns", Address: "169.254.77.1", Credential: "discovery.mdns", Profile: "pjlink-display",
		Identity: Identity{MAC: display.Identity.MAC, Serial: "sim-1", Model: "DisplayPro 55", Manufacturer: "Acme Corp",
			Hostname: "display-01", IP: "169.254.77.1"}}
	modbus := Sighting{Protocol: "modbus", Address: "127.0.0.1:5020/1", Credential: "discovery.modbus[0]",
		Identity: Identity{MAC: display.Identity.MAC, Firmware: "9.9"}}

	id1 := r.g.Observe(mdns)
	id2 := r.g.Observe(snmp)
	id3 := r.g.Observe(modbus)
	require.Equal(t, id1, id2)
	require.Equal(t, id1, id3, "one device per MAC, whatever the protocol")
	tw, _ := r.g.Twin(id1)
	require.Equal(t, []string{"mdns", "modbus", "snmp"}, tw.Identity.Protocols)
	require.Equal(t, []string{"mdns://169.254.77.1", "modbus://127.0.0.1:5020/1", "snmp://127.0.0.1:16100"}, tw.Identity.Addresses)
	require.Equal(t, "DP55", tw.Identity.Model, "SNMP's model outranks the TXT record's")
	require.Equal(t, "ACME", tw.Identity.Manufacturer)
	require.Equal(t, "SIM-1", tw.Identity.Serial)
	require.Equal(t, "9.9", tw.Identity.Firmware, "a field SNMP leaves empty comes from the next protocol")
	require.Equal(t, "display-01", tw.Identity.Hostname)
	require.Equal(t, "acme-display", tw.Profile, "the SNMP profile is the twin's")
	require.Len(t, tw.Endpoints, 3)

	// mDNS said "sim-1": the same serial (case aside), so no conflict so far; now it says another.
	r.mu.Lock()
	require.Empty(t, r.audits)
	r.mu.Unlock()
	_, err := r.g.Claim(context.Background(), display.Identity.MAC, "SIM-1", "", "cli")
	require.NoError(t, err)
	mdns.Identity.Serial = "SN-OTHER"
	r.g.Observe(mdns)
	tw, _ = r.g.Twin(id1)
	require.Equal(t, "SIM-1", tw.Identity.Serial, "a TXT serial never overrules SNMP's")
	require.Equal(t, ClaimClaimed, tw.Claim.State, "and does not turn a good claim into a mismatch")
	r.mu.Lock()
	defer r.mu.Unlock()
	var conflict *AuditEntry
	for i := range r.audits {
		if r.audits[i].Action == "identity conflict" {
			conflict = &r.audits[i]
		}
	}
	require.NotNil(t, conflict, "conflicting serials are an event, not a silent overwrite")
	require.Equal(t, "snmp: SIM-1", conflict.Old)
	require.Equal(t, "mdns: SN-OTHER", conflict.New)
}

// TestObserveConflictsConcurrently: sightings with conflicting serials observed from several
// goroutines at once. Under the race detector (make test runs gateway with -race) this caught Observe
// reading the twin's serial for the audit after letting go of the lock.
func TestObserveConflictsConcurrently(t *testing.T) {
	r := newClaimRig(t)
	snmp := display
	mdns := Sighting{Protocol: "mdns", Address: "169.254.77.1", Credential: "discovery.mdns",
		Identity: Identity{MAC: display.Identity.MAC, Serial: "SN-OTHER"}}
	done := make(chan struct{})
	for i := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for j := range 50 {
				s := snmp
				if (i+j)%2 == 0 {
					s = mdns
				}
				r.g.Observe(s)
			}
		}()
	}
	for range 4 {
		<-done
	}
	tw, ok := r.g.Twin("mac-02ed67000001")
	require.True(t, ok)
	require.Equal(t, "SIM-1", tw.Identity.Serial)
}
