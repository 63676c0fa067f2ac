package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/internal/peers"
)

// expected reads ../shared/testdata/real/snmp/EXPECTED.tsv: one row per recording, keyed by file name
// without .snmprec. The lnms_* columns are what LibreNMS's own tests assert about the real device.
func expected(t *testing.T) map[string]map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(peers.Shared(t, "testdata/real/snmp"), "EXPECTED.tsv"))
	require.NoError(t, err)
	defer f.Close()
	r := csv.NewReader(f)
	r.Comma, r.LazyQuotes, r.FieldsPerRecord = '\t', true, -1
	rows, err := r.ReadAll()
	require.NoError(t, err)
	out := map[string]map[string]string{}
	for _, row := range rows[1:] {
		m := map[string]string{}
		for i, h := range rows[0] {
			if i < len(row) {
				m[h] = row[i]
			}
		}
		out[strings.TrimSuffix(m["file"], ".snmprec")] = m
	}
	return out
}

// recordedMACs lists every ifPhysAddress value in a recording, as aa:bb:... strings.
func recordedMACs(t *testing.T, name string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(peers.Shared(t, "testdata/real/snmp"), name+".snmprec"))
	require.NoError(t, err)
	defer f.Close()
	var macs []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), "|", 3)
		if len(parts) == 3 && strings.HasPrefix(parts[0], "1.3.6.1.2.1.2.2.1.6.") && parts[1] == "4x" && len(parts[2]) == 12 {
			h := strings.ToLower(parts[2])
			macs = append(macs, h[0:2]+":"+h[2:4]+":"+h[4:6]+":"+h[6:8]+":"+h[8:10]+":"+h[10:12])
		}
	}
	return macs
}

// TestDiscoverReplaysRealRecordings runs `edgegw discover --json` against real devices' recordings
// replayed by snmpsim, and compares what the standard MIBs (ENTITY-MIB, Printer-MIB) give with what
// LibreNMS asserts for these devices. Vendor-specific identity is the profile library's issue; these
// recordings carry their identity in the standard MIBs.
func TestDiscoverReplaysRealRecordings(t *testing.T) {
	addr := peers.Need(t, "PEERS_SNMPSIM_ADDR")[0]
	want := expected(t)
	// vendorModel: the standard MIBs hold another model name than the label's (EdgeSwitch's
	// entPhysicalModelName is "UBNT-ES8" where the label and LibreNMS say "US-8"); a vendor profile fixes
	// that, so only serial and MAC are compared here.
	vendorModel := map[string]bool{"edgeswitch_us-8-v2": true}
	for _, rec := range []string{"ciscosb_cbs350-4x", "edgeswitch_us-8-v2", "ricoh_mpc3002", "konica_c250i"} {
		t.Run(rec, func(t *testing.T) {
			exp, ok := want[rec]
			require.True(t, ok, "recording %s not in EXPECTED.tsv", rec)
			var stdout, stderr bytes.Buffer
			code := run([]string{"discover", "--json", "--target", "snmp://" + rec + "@" + addr}, &stdout, &stderr)
			require.Equal(t, exitOK, code, stderr.String())
			var rows []discovered
			require.NoError(t, json.Unmarshal(stdout.Bytes(), &rows))
			require.Len(t, rows, 1)
			got := rows[0]
			require.Equal(t, exp["lnms_serial"], got.Serial, "serial")
			model := strings.ToLower(got.Model)
			hw := strings.ToLower(exp["lnms_hardware"])
			require.True(t, vendorModel[rec] || model != "" && (strings.Contains(hw, model) || strings.Contains(model, hw)),
				"model %q vs LibreNMS hardware %q", got.Model, exp["lnms_hardware"])
			require.Contains(t, recordedMACs(t, rec), got.MAC, "the MAC is one of the device's interfaces")
			require.Equal(t, "mac-"+strings.ReplaceAll(got.MAC, ":", ""), got.ID)
			if v := exp["lnms_version"]; v != "" && got.Firmware != "" {
				require.Contains(t, v, got.Firmware, "firmware")
			}
		})
	}
}
