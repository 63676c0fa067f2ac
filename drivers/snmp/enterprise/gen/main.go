// Command gen writes registry.tsv, the enterprise package's copy of the IANA Private Enterprise
// Number registry: one "number<TAB>organisation" line per assigned number, sorted, after a few '#'
// lines saying where it came from. Only the organisation is kept: the registry's contact names and
// e-mail addresses are personal data and never leave this program.
//
// It reads either the registry as IANA publishes it (https://www.iana.org/assignments/enterprise-numbers.txt:
// a decimal line, then the organisation, contact and e-mail lines indented by 2, 4 and 6 spaces), or a
// JSON object {"number": "organisation"} such as third-party copies carry. Run it from the enterprise
// package with `ENTERPRISE_NUMBERS=/path/to/enterprise-numbers.txt go generate`.
package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// entry is one assigned number and the organisation it is registered to.
type entry struct {
	n   uint32
	org string
}

// address matches an e-mail address, written with '@' or with the '&' the registry uses instead.
// "GmbH&Co.KG" is a legal form, not an address, hence the domain may not start with "Co.".
var address = regexp.MustCompile(`[A-Za-z0-9._%+!=-]+[@&]([A-Za-z0-9-]+)(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`)

// hasAddress reports whether s holds an e-mail address.
func hasAddress(s string) bool {
	for _, m := range address.FindAllStringSubmatch(s, -1) {
		if !strings.EqualFold(m[1], "Co") {
			return true
		}
	}
	return false
}

// repairs are registry entries whose organisation line has the contact's name and e-mail address run
// into it (a 1990s formatting slip the registry still carries): the organisation is the part before.
// A repair applies only while the registered text starts with it and still holds an address, so a
// registry that fixes the entry, or changes it, is taken as it then is.
var repairs = map[uint32]string{
	1106: "Uni-Q",
	1924: "Castleton Network Systems Corp",
	1975: "Nabisco",
	2132: "Comnet Datensysteme",
	2190: "ABSYSS",
	2475: "Sierra Technology, Inc.",
	6833: "Scarptor Network AB",
}

// unassigned are the registry's placeholders for a number that names no organisation.
var unassigned = map[string]bool{"reserved": true, "unassigned": true, "---none---": true, "": true}

// invisible are characters that only break words or lines (soft hyphen, zero-width space and joiners,
// byte-order mark); they are dropped from names.
var invisible = strings.NewReplacer("\u00ad", "", "\u200b", "", "\u200c", "", "\u200d", "", "\ufeff", "")

// tidy collapses every run of white space (tabs, no-break spaces included) to one space and drops
// invisible characters, so a name fits on its TSV line.
func tidy(s string) string {
	return strings.Join(strings.Fields(invisible.Replace(s)), " ")
}

// clean turns the registered text of n into the organisation kept, or "" for an unassigned number.
func clean(n uint32, registered string) (string, error) {
	org := tidy(registered)
	if unassigned[strings.ToLower(org)] {
		return "", nil
	}
	if fix, ok := repairs[n]; ok && strings.HasPrefix(org, fix) && hasAddress(org) {
		org = fix
	}
	if hasAddress(org) {
		return "", fmt.Errorf("enterprise %d: the organisation holds an e-mail address; add the organisation part to repairs in gen/main.go", n)
	}
	return org, nil
}

var lastUpdated = regexp.MustCompile(`\(last updated (\d{4}-\d{2}-\d{2})\)`)

// parseIANA reads the registry as IANA publishes it; date is its "last updated" date, if it says one.
func parseIANA(r io.Reader) (entries []entry, date string, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	var (
		cur     entry
		wantOrg bool
		line    int
	)
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		if date == "" {
			if m := lastUpdated.FindStringSubmatch(text); m != nil {
				date = m[1]
			}
		}
		if wantOrg {
			if strings.TrimSpace(text) == "" {
				continue
			}
			cur.org = text
			entries = append(entries, cur)
			wantOrg = false
			continue
		}
		// An entry starts with its number alone on a line, from the first column.
		if text == "" || text[0] < '0' || text[0] > '9' {
			continue
		}
		n, perr := strconv.ParseUint(text, 10, 32)
		if perr != nil {
			continue
		}
		// IANA lists every number in order; a number out of it is a stray line, not an entry.
		if len(entries) > 0 && uint32(n) <= entries[len(entries)-1].n {
			return nil, "", fmt.Errorf("line %d: %d after %d: numbers out of order", line, n, entries[len(entries)-1].n)
		}
		cur, wantOrg = entry{n: uint32(n)}, true
	}
	if err := sc.Err(); err != nil {
		return nil, "", fmt.Errorf("line %d: %w", line, err)
	}
	if wantOrg {
		return nil, "", fmt.Errorf("enterprise %d: no organisation line", cur.n)
	}
	return entries, date, nil
}

// parseJSON reads a {"number": "organisation"} object.
func parseJSON(r io.Reader) ([]entry, error) {
	var m map[string]string
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return nil, err
	}
	entries := make([]entry, 0, len(m))
	for k, v := range m {
		n, err := strconv.ParseUint(k, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("key %q is not an enterprise number", k)
		}
		entries = append(entries, entry{uint32(n), v})
	}
	return entries, nil
}

// parse reads either format, telling them apart by the first character that is not white space.
func parse(data []byte) (entries []entry, date string, err error) {
	if t := strings.TrimSpace(string(data)); strings.HasPrefix(t, "{") {
		entries, err = parseJSON(strings.NewReader(t))
	} else {
		entries, date, err = parseIANA(strings.NewReader(string(data)))
	}
	if err != nil {
		return nil, "", err
	}
	return entries, date, nil
}

// build cleans, sorts and checks the entries: numbers unique, names free of addresses and of the
// characters the file format reserves.
func build(entries []entry) ([]entry, error) {
	out := make([]entry, 0, len(entries))
	var errs []error
	for _, e := range entries {
		org, err := clean(e.n, e.org)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if org != "" {
			out = append(out, entry{e.n, org})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	slices.SortFunc(out, func(a, b entry) int { return cmp.Compare(a.n, b.n) })
	for i := 1; i < len(out); i++ {
		if out[i].n == out[i-1].n {
			return nil, fmt.Errorf("enterprise %d is listed twice", out[i].n)
		}
	}
	return out, nil
}

// write writes the TSV: '#' lines first, then one "number<TAB>organisation" line per entry.
func write(w io.Writer, entries []entry, source, date string) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, "# IANA Private Enterprise Numbers (https://www.iana.org/assignments/enterprise-numbers):")
	fmt.Fprintln(bw, "# number<TAB>organisation, assigned numbers only; contacts and e-mail addresses are not kept.")
	fmt.Fprintf(bw, "# Registry as of %s, %d entries, from %s.\n", date, len(entries), source)
	fmt.Fprintln(bw, "# Generated by drivers/snmp/enterprise/gen; do not edit (see the package comment to refresh).")
	for _, e := range entries {
		fmt.Fprintf(bw, "%d\t%s\n", e.n, e.org)
	}
	return bw.Flush()
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	src := fs.String("src", "", "the registry: IANA's enterprise-numbers.txt, or a JSON {number: organisation} copy")
	out := fs.String("out", "registry.tsv", "the file to write")
	from := fs.String("from", "", "where the source came from, for the file's header (default: the -src path's base name)")
	date := fs.String("date", "", "the registry's date, when the source does not say it (IANA's own file does)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *src == "" {
		return errors.New("no source: set ENTERPRISE_NUMBERS (or -src) to a copy of https://www.iana.org/assignments/enterprise-numbers.txt")
	}
	data, err := os.ReadFile(*src)
	if err != nil {
		return err
	}
	entries, said, err := parse(data)
	if err != nil {
		return fmt.Errorf("%s: %w", *src, err)
	}
	if *date == "" {
		*date = said
	}
	if *date == "" {
		return fmt.Errorf("%s does not say its date: give -date", *src)
	}
	if *from == "" {
		*from = *src
		if i := strings.LastIndexByte(*from, '/'); i >= 0 {
			*from = (*from)[i+1:]
		}
	}
	entries, err = build(entries)
	if err != nil {
		return fmt.Errorf("%s: %w", *src, err)
	}
	if len(entries) < 50000 {
		return fmt.Errorf("%s: only %d entries; is it the whole registry?", *src, len(entries))
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	if err := write(f, entries, *from, *date); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "gen: %s: %d entries, registry as of %s\n", *out, len(entries), *date)
	return nil
}

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
