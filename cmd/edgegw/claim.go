package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edgegw/edgegw/admin"
	"github.com/edgegw/edgegw/gateway"
)

const claimUsage = `Usage:
  edgegw claim add --mac M --serial S [--group G] --config FILE   claim one device (exit 1 if rejected)
  edgegw claim import FILE.csv --config FILE                    claim every MAC,Serial[,Group] row
  edgegw claim list [--json] --config FILE                      every claim and its state
  edgegw claim remove --mac M --config FILE                     unclaim a device

These talk to the running daemon over its admin socket (state_dir/admin.sock).
`

func cmdClaim(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("%s", strings.TrimRight(claimUsage, "\n"))
	}
	if isHelp(args[0]) {
		fmt.Fprint(stdout, claimUsage)
		return nil
	}
	verb, args := args[0], args[1:]
	usage := map[string]string{
		"add":    "edgegw claim add --mac MAC --serial SERIAL [--group G] --config FILE",
		"import": "edgegw claim import FILE.csv --config FILE   (rows: MAC,Serial[,Group])",
		"list":   "edgegw claim list [--json] --config FILE",
		"remove": "edgegw claim remove --mac MAC|DEVICE-ID --config FILE",
	}[verb]
	fs := newFlags("claim "+verb, usage, stdout)
	cfgPath := fs.String("config", "", "configuration file of the running daemon (required)")
	var mac, serial, group *string
	var asJSON *bool
	var file string
	switch verb {
	case "add":
		mac = fs.String("mac", "", "the device's MAC (aa:bb:cc:dd:ee:ff, AA-BB-..., aabb.ccdd.eeff, aabbccddeeff)")
		serial = fs.String("serial", "", "the serial number on the device's label")
		group = fs.String("group", "", "group to put it in (default \""+gateway.DefaultGroup+"\")")
	case "remove":
		mac = fs.String("mac", "", "the device's MAC (or its device id)")
	case "list":
		asJSON = fs.Bool("json", false, "print JSON")
	case "import":
		if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
			file, args = args[0], args[1:]
		}
	default:
		return usagef("edgegw claim: unknown command %q\n\n%s", verb, claimUsage)
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if verb == "import" && file == "" && fs.NArg() == 0 {
		return usagef("edgegw claim import: which file? (edgegw claim import FILE.csv --config FILE)")
	}
	if (verb == "add" && (*mac == "" || *serial == "")) || (verb == "remove" && *mac == "") {
		return usagef("edgegw claim %s: --mac%s required (see --help)", verb, map[bool]string{true: " and --serial are", false: " is"}[verb == "add"])
	}
	cfg, err := protocols().loadConfig(*cfgPath, stderr)
	if err != nil {
		return err
	}
	dir := cfg.Gateway.StateDir
	switch verb {
	case "add":
		out, err := adminJSON(dir, http.MethodPost, "/api/claims", admin.ClaimRequest{MAC: *mac, Serial: *serial, Group: *group})
		if err != nil {
			return err
		}
		var c gateway.Claim
		if err := json.Unmarshal(out, &c); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s %s: %s%s\n", c.MAC, dash(c.DeviceID), c.State, reasonSuffix(c.Reason))
		if c.State == gateway.ClaimRejected || c.State == gateway.ClaimMismatch {
			return errSilent
		}
		return nil
	case "remove":
		out, err := adminCall(dir, http.MethodDelete, "/api/claims/"+url.PathEscape(*mac), nil)
		if err != nil {
			return err
		}
		var c gateway.Claim
		json.Unmarshal(out, &c)
		fmt.Fprintf(stdout, "%s %s: unclaimed\n", c.MAC, dash(c.DeviceID))
		return nil
	case "list":
		out, err := adminCall(dir, http.MethodGet, "/api/claims", nil)
		if err != nil {
			return err
		}
		var cs []gateway.Claim
		if err := json.Unmarshal(out, &cs); err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(stdout, legacyClaims(cs))
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "MAC\tSERIAL\tDEVICE ID\tSTATE\tGROUP\tUPDATED\tREASON")
		for _, c := range cs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.MAC, c.Serial, dash(c.DeviceID), c.State, c.Group,
				c.Updated.Local().Format(time.DateTime), c.Reason)
		}
		return tw.Flush()
	}
	// import
	if file == "" {
		file = fs.Arg(0)
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	res, err := importClaims(dir, f, progressPrinter(stderr, "claimed %d/%d rows"), stderr)
	if err != nil {
		return err
	}
	counts := map[string]int{}
	notStored := 0
	for _, r := range res.Results {
		if r.NotStored {
			notStored++
		}
		switch {
		case r.NotDone:
			counts["notDone"]++
		case r.Error != "":
			fmt.Fprintf(stdout, "line %d: %s\n", r.Line, r.Error)
			counts["error"]++
		case r.Unchanged:
			counts["unchanged"]++
		default:
			fmt.Fprintf(stdout, "line %d: %s %s%s\n", r.Line, r.Claim.MAC, r.Claim.State, reasonSuffix(r.Claim.Reason))
			counts[r.Claim.State]++
		}
	}
	for _, e := range res.RowErrors {
		fmt.Fprintf(stdout, "line %d: %s\n", e.Line, e.Reason)
		counts["error"]++
	}
	fmt.Fprintf(stdout, "%d rows: %d claimed, %d pending, %d rejected, %d unchanged, %d bad, %d duplicates\n",
		len(res.Results)+len(res.RowErrors), counts[gateway.ClaimClaimed], counts[gateway.ClaimPending],
		counts[gateway.ClaimRejected], counts["unchanged"], counts["error"], res.Duplicates)
	if n := counts["notDone"]; n > 0 {
		return fmt.Errorf("%d rows not done: the import was interrupted (the daemon stopped?); nothing of them was recorded, run the same import again to finish", n)
	}
	if notStored > 0 {
		return fmt.Errorf("%d rows were not stored: the daemon's state store cannot write (edgegw cloud status says why); import the file again once it can", notStored)
	}
	return nil
}

// importIdle is how long the CLI waits for word from the daemon during an import before it gives up;
// the daemon says how far it got every few seconds (admin.ImportHeartbeat).
const importIdle = 2 * time.Minute

// importClaims sends a CSV to the daemon and follows its progress: no deadline for the whole import
// (50,000 rows take a while), only for silence. progress, when set, shows how far it got.
func importClaims(stateDir string, body io.Reader, progress func(done, total int), stderr io.Writer) (admin.ImportResult, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://edgegw/api/claims/import?progress=1", body)
	if err != nil {
		return admin.ImportResult{}, err
	}
	resp, err := adminDo(stateDir, 0, importIdle, req)
	if err != nil {
		return admin.ImportResult{}, err
	}
	defer resp.Body.Close()
	idle := time.AfterFunc(importIdle, cancel)
	defer idle.Stop()
	dec := json.NewDecoder(resp.Body)
	for {
		var line admin.ImportLine
		if err := dec.Decode(&line); err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("no word from the daemon for %s", importIdle)
			}
			return admin.ImportResult{}, fmt.Errorf("import: the daemon's answer broke off (rows it had not recorded stay to do; run the import again): %w", err)
		}
		idle.Reset(importIdle)
		switch {
		case line.Error != "":
			return admin.ImportResult{}, fmt.Errorf("daemon: %s", line.Error)
		case line.Result != nil:
			if progress != nil {
				fmt.Fprint(stderr, "\r\033[K")
			}
			return *line.Result, nil
		case line.Progress != nil && progress != nil:
			progress(line.Progress.Done, line.Progress.Total)
		}
	}
}

// cmdAudit: edgegw audit [--device D] [--since T] [--json] --config FILE.
func cmdAudit(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("audit", "edgegw audit [--device D] [--since 2026-11-01T00:00:00Z|24h] [--json] --config FILE", stdout)
	cfgPath := fs.String("config", "", "configuration file of the running daemon (required)")
	device := fs.String("device", "", "only this device id")
	since := fs.String("since", "", "only entries since this time (RFC 3339) or duration ago (24h)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	q, err := logQuery("audit", *device, *since)
	if err != nil {
		return err
	}
	cfg, err := protocols().loadConfig(*cfgPath, stderr)
	if err != nil {
		return err
	}
	es, err := adminGet[[]gateway.AuditEntry](cfg.Gateway.StateDir, "/api/audit?"+q.Encode())
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, es)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tDEVICE\tACTION\tOLD\tNEW\tBY\tDETAIL")
	for _, e := range es {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Local().Format(time.DateTime), dash(e.DeviceID), e.Action,
			dash(e.Old), dash(e.New), e.By, e.Detail)
	}
	return tw.Flush()
}

func reasonSuffix(r string) string {
	if r == "" {
		return ""
	}
	return " (" + r + ")"
}

// listedClaim is a claim as `claim list --json` prints it: camelCase like every JSON of edgegw, plus
// the old snake_case device_id, kept for one release so that scripts reading it have time to move.
type listedClaim struct {
	gateway.Claim
	// Deprecated: read deviceId; device_id goes away in the next release.
	LegacyDeviceID string `json:"device_id,omitempty"`
}

func legacyClaims(cs []gateway.Claim) []listedClaim {
	out := make([]listedClaim, len(cs))
	for i, c := range cs {
		out[i] = listedClaim{Claim: c, LegacyDeviceID: c.DeviceID}
	}
	return out
}
