package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/edgegw/edgegw/config"
	"github.com/edgegw/edgegw/drivers/profile"
	"github.com/edgegw/edgegw/gateway"
)

const profileUsage = `Usage:
  edgegw profile list [--config FILE] [--dir DIR]...             the profiles edgegw knows
  edgegw profile show NAME [--config FILE] [--dir DIR]... [--json] one profile: match rules, identity, points
  edgegw profile test --target URL [--profile NAME] [--config FILE] [--dir DIR]... [--json]
                                         which profile matches the device, and every point's raw and
                                         normalized value

Profiles come from the binary, then from profiles.dirs of --config, then from each --dir (later wins).
`

// dirList collects repeated --dir flags.
type dirList []string

func (d *dirList) String() string     { return strings.Join(*d, ",") }
func (d *dirList) Set(v string) error { *d = append(*d, v); return nil }

func cmdProfile(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("%s", strings.TrimRight(profileUsage, "\n"))
	}
	if isHelp(args[0]) {
		fmt.Fprint(stdout, profileUsage)
		return nil
	}
	verb, args := args[0], args[1:]
	fs := newFlags("profile "+verb, "edgegw profile "+verb+" [options] (see edgegw profile --help)", stdout)
	cfgPath := fs.String("config", "", "configuration file whose profiles.dirs to load")
	var dirs dirList
	fs.Var(&dirs, "dir", "a directory of profile files to load; may be repeated")
	asJSON := fs.Bool("json", false, "print JSON")
	var target *string
	var force *string
	if verb == "test" {
		target = fs.String("target", "", "the device, snmp://[community@]host[:port] (required)")
		force = fs.String("profile", "", "test this profile instead of the one that matches")
	}
	var name string
	if verb == "show" {
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			if len(args) > 0 && isHelp(args[0]) {
				fs.Usage()
				return nil
			}
			return usagef("edgegw profile show: which profile? (edgegw profile show NAME)")
		}
		name, args = args[0], args[1:]
	}
	switch verb {
	case "list", "show", "test":
	default:
		return usagef("edgegw profile: unknown command %q\n\n%s", verb, profileUsage)
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg := config.Default()
	if *cfgPath != "" {
		var err error
		if cfg, err = protocols().loadConfig(*cfgPath, stderr); err != nil {
			return err
		}
	}
	lib, err := protocols().loadProfiles(append(append([]string(nil), cfg.Profiles.Dirs...), dirs...))
	if err != nil {
		return err
	}
	for _, o := range lib.Overrides() {
		fmt.Fprintf(stderr, "note: profile %s from %s replaces the one from %s\n", o.Name, o.Source, o.Replaced)
	}
	switch verb {
	case "list":
		return profileList(stdout, lib, *asJSON)
	case "show":
		p := lib.Get(name)
		if p == nil {
			return fmt.Errorf("no profile named %q (edgegw profile list shows them)", name)
		}
		return profileShow(stdout, p, *asJSON)
	}
	if *target == "" {
		return usagef("edgegw profile test: --target URL is required")
	}
	return profileTest(stdout, cfg, lib, *target, *force, *asJSON)
}

func profileList(w io.Writer, lib *profile.Library, asJSON bool) error {
	if asJSON {
		type row struct {
			Name, Kind, Manufacturer, Description, Source string
			Match                                         any
			Points                                        int
		}
		var rows []row
		for _, p := range lib.List() {
			rows = append(rows, row{p.Name, p.Kind, p.Manufacturer, p.Description, p.Source, p.Match, len(p.Points)})
		}
		return writeJSON(w, rows)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tMANUFACTURER\tPOINTS\tMATCHES\tSOURCE")
	for _, p := range lib.List() {
		m := matchText(p.Match)
		if r := []rune(m); len(r) > 60 {
			m = string(r[:59]) + "…" // profile show NAME has it whole
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", p.Name, p.Kind, dash(p.Manufacturer), len(p.Points), m, p.Source)
	}
	return tw.Flush()
}

// matchText shows a profile's match conditions: the protocol's own words (each driver's Match is a
// fmt.Stringer), or "(base only)".
func matchText(m any) string {
	if m == nil {
		return "(base only)"
	}
	if s, ok := m.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprint(m)
}

// describer is a protocol's identity rules that can say where each field is read.
type describer interface{ Describe() []string }

func profileShow(w io.Writer, p *gateway.Profile, asJSON bool) error {
	if asJSON {
		return writeJSON(w, p)
	}
	fmt.Fprintf(w, "%s: %s\n  %s, kind %s, manufacturer %s, from %s\n  matches: %s\n", p.Name, p.Description, p.Protocol,
		p.Kind, dash(p.Manufacturer), p.Source, matchText(p.Match))
	if d, ok := p.Identity.(describer); ok {
		for _, line := range d.Describe() {
			fmt.Fprintf(w, "  identity %s\n", line)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  POINT\tADDRESS\tTYPE\tUNIT\tSCALE\tWRITABLE")
	for _, pt := range p.Points {
		scale := "-"
		if pt.Scale != 0 {
			scale = fmt.Sprint(pt.Scale)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%v\n", pt.Name, addressText(pt.Address), pt.Type, dash(pt.Unit), scale, pt.Writable)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, m := range p.Methods {
		fmt.Fprintf(w, "  method %s: set %s (%s) = %s\n", m.Name, addressText(m.Address), m.Type, m.Value)
	}
	for _, e := range p.Events {
		fmt.Fprintf(w, "  event %s (%s): %s", e.Name, e.Severity, matchText(e.Match))
		if e.Clear != nil {
			fmt.Fprintf(w, "; cleared by %s", matchText(e.Clear))
		}
		if len(e.Set) > 0 {
			fmt.Fprintf(w, "; sets %s", formatSet(e.Set))
		}
		fmt.Fprintln(w)
	}
	return nil
}

// formatSet renders an event's set values as "a=1 b=on", sorted.
func formatSet(vals map[string]gateway.Value) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(vals)) {
		parts = append(parts, k+"="+vals[k].String())
	}
	return strings.Join(parts, " ")
}

func addressText(a gateway.Address) string {
	if a == nil {
		return "-"
	}
	return a.String()
}

// profileTest identifies one device, as discovery would, and polls every point of the profile that
// matched (or of --profile), printing raw and normalized values.
func profileTest(w io.Writer, cfg *config.Config, lib *profile.Library, target, force string, asJSON bool) error {
	one := config.Default()
	one.Gateway.ID = "profile-test"
	// Only the target is asked; its timing comes from its URL (snmp://...?timeout=5s&retries=2).
	if err := protocols().addTarget(one, target, 0); err != nil {
		return usagef("edgegw profile test: --target %s: %v", redactURL(target), err)
	}
	drv, err := protocols().newDrivers(one, lib, newLogger(io.Discard, config.Log{}), nil)
	if err != nil {
		return err
	}
	defer drv.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// One discovery pass over the one target: the first device that answers is the one tested.
	var sight gateway.Sighting
	var failure error
	for _, d := range drv.discoverers {
		res, err := gateway.Collect(ctx, d)
		if err != nil {
			return err
		}
		for _, e := range res.Errors {
			failure = errors.Join(failure, e)
		}
		if len(res.Sightings) > 0 && sight.Protocol == "" {
			sight = res.Sightings[0]
		}
	}
	if sight.Protocol == "" {
		if failure != nil {
			return failure
		}
		return fmt.Errorf("%s: nothing answered", target)
	}
	name := sight.Profile
	if force != "" {
		name = force
	}
	p := lib.Get(name)
	if p == nil {
		return fmt.Errorf("no profile named %q", name)
	}
	poller, ok := drv.pollers[sight.Protocol]
	if !ok {
		return fmt.Errorf("no %s driver to poll %s", sight.Protocol, target)
	}
	readings, err := poller.Poll(ctx, sight.Endpoint(), p.Points)
	if err != nil {
		return err
	}
	if asJSON {
		type point struct {
			Name  string         `json:"name"`
			OID   string         `json:"oid"`
			Raw   string         `json:"raw"`
			Value *gateway.Value `json:"value"`
			Unit  string         `json:"unit,omitempty"`
			Error string         `json:"error,omitempty"`
		}
		out := struct {
			Matched  string                    `json:"matched"`
			Tested   string                    `json:"tested"`
			Identity gateway.Identity          `json:"identity"`
			Tried    []gateway.IdentityAttempt `json:"tried,omitempty"`
			Points   []point                   `json:"points"`
		}{Matched: sight.Profile, Tested: name, Identity: sight.Identity, Tried: sight.Tried}
		failed := false
		for _, r := range readings {
			pt := point{Name: r.Name, OID: r.Source, Raw: r.Raw, Unit: r.Unit}
			if r.Err != nil {
				pt.Error, failed = r.Err.Error(), true
			} else {
				v := r.Value
				pt.Value = &v
			}
			out.Points = append(out.Points, pt)
		}
		if err := writeJSON(w, out); err != nil || !failed {
			return err
		}
		return errSilent
	}
	id := sight.Identity
	fmt.Fprintf(w, "device %s\n  matched profile: %s\n", target, dash(sight.Profile))
	if force != "" {
		fmt.Fprintf(w, "  testing profile: %s\n", name)
	}
	fmt.Fprintf(w, "  manufacturer %s, model %s, serial %s, firmware %s, hardware %s, mac %s\n",
		dash(id.Manufacturer), dash(id.Model), dash(id.Serial), dash(id.Firmware), dash(id.Hardware), dash(id.MAC))
	fmt.Fprintf(w, "  kind %s", dash(id.Kind))
	if n := id.Network; n != (gateway.Network{}) {
		fmt.Fprintf(w, ", ipv4 %s, ipv6 %s, default gateway %s", dash(n.IPv4), dash(n.IPv6), dash(n.DefaultGateway))
		if n.Addressing != "" {
			fmt.Fprintf(w, ", %s", n.Addressing)
		}
	}
	fmt.Fprintln(w)
	if sight.Protocol == "snmp" {
		fmt.Fprintf(w, "  sysObjectID %s\n  sysDescr %q\n", dash(id.SysObjectID), id.SysDescr)
	}
	if len(sight.Tried) > 0 {
		// Where each identity field came from, and what every other place gave: what to write in a
		// profile when a field is missing (docs/profiles.md).
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  IDENTITY\tSOURCE\tGAVE")
		for _, f := range gateway.IdentityFields {
			found := false
			for _, a := range sight.TriedFor(f) {
				gave := a.Value
				switch {
				case a.Used:
					gave, found = "* "+gave, true
				case a.Note != "":
					gave = strings.TrimSpace(gave + " (" + a.Note + ")")
				}
				src := a.Source
				if r := []rune(src); len(r) > 72 {
					src = string(r[:71]) + "…" // a long expression: --json has it whole
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s\n", f, src, gave)
			}
			if !found {
				fmt.Fprintf(tw, "  %s\t(nothing found: say where in [profile.identity] %s)\t-\n", f, f)
			}
		}
		tw.Flush()
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  POINT\tSOURCE\tRAW\tVALUE")
	bad := 0
	for _, r := range readings {
		val := r.Value.String() + " " + r.Unit
		if r.Err != nil {
			val, bad = "ERROR "+r.Err.Error(), bad+1
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", r.Name, dash(r.Source), dash(r.Raw), strings.TrimSpace(val))
	}
	tw.Flush()
	fmt.Fprintf(w, "%d points read, %d failed\n", len(readings)-bad, bad)
	if bad > 0 {
		return errSilent
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
