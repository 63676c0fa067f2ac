// Command testreport reads `go test -json` and shows it as go test would without -json: a line per
// package, and the whole output of every test that failed (and of a package that did not build). A test
// still running when its package failed (the package timed out or crashed) failed too: its output,
// with the timeout's goroutine dump, is shown when the package's failure comes.
//
//	go test -json ./... | testreport
//
// With -summary it reads the JSON kept from one or more runs instead and prints how many tests passed,
// failed and were skipped, then every skipped test with its reason and every failed test. A test counts
// as skipped only when no run ran it: a test skipped under -short in one run and run in full in another
// has run. A test that started and never ended in a run (its package timed out) failed.
//
//	testreport -summary full.json race.json
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string // build-output
}

func main() {
	summary := flag.Bool("summary", false, "read the named files and print the totals and every skipped test")
	flag.Parse()
	if !*summary {
		if err := stream(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "testreport:", err)
			os.Exit(1)
		}
		return
	}
	var runs []io.Reader
	for _, name := range flag.Args() {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testreport:", err)
			os.Exit(1)
		}
		defer f.Close()
		runs = append(runs, f)
	}
	s, err := summarize(runs...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(1)
	}
	s.print(os.Stdout)
}

// stream prints package lines as they come and a failed test's output when it fails. Lines that are
// not JSON (go vet, a panic before test2json) pass through.
func stream(r io.Reader, w io.Writer) error {
	out := map[string][]string{} // "package test" -> its output so far (a space: in no package path)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Action == "" {
			fmt.Fprintln(w, sc.Text())
			continue
		}
		key := e.Package + " " + e.Test
		switch {
		case e.Action == "build-output":
			fmt.Fprint(w, e.Output)
		case e.Action == "output" && e.Test == "":
			if !strings.HasPrefix(e.Output, "=== ") && !strings.HasPrefix(e.Output, "--- ") &&
				strings.TrimSpace(e.Output) != "PASS" {
				fmt.Fprint(w, e.Output) // ok/FAIL/no test files, and what a package prints outside tests
			}
		case e.Action == "output":
			out[key] = append(out[key], e.Output)
		case e.Action == "fail" && e.Test != "":
			fmt.Fprint(w, strings.Join(out[key], ""))
			delete(out, key)
		case e.Action == "fail": // the package: a test still running never ended
			for _, k := range slices.Sorted(maps.Keys(out)) {
				if test, ok := strings.CutPrefix(k, e.Package+" "); ok && test != "" {
					fmt.Fprintf(w, "--- UNFINISHED: %s (still running when %s failed: timed out or crashed)\n", test, e.Package)
					fmt.Fprint(w, strings.Join(out[k], ""))
					delete(out, k)
				}
			}
		case e.Action == "pass" || e.Action == "skip":
			delete(out, key)
		}
	}
	return sc.Err()
}

// result is what the runs say of one test.
type result struct {
	ran, failed bool
	reason      string // the last line it logged before it skipped
}

type totals struct {
	passed  int
	failed  []string // "package TestName", in the order they started
	skipped []string // "package TestName: reason", sorted
}

func summarize(runs ...io.Reader) (totals, error) {
	tests := map[string]*result{}
	var order []string
	for _, r := range runs {
		last := map[string]string{}  // package/test -> last logged line
		running := map[string]bool{} // started and not ended in this run
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			var e event
			if json.Unmarshal(sc.Bytes(), &e) != nil || e.Test == "" {
				continue
			}
			key := e.Package + " " + e.Test
			res := tests[key]
			if res == nil {
				res = &result{}
				tests[key] = res
				order = append(order, key)
			}
			switch e.Action {
			case "run":
				running[key] = true
			case "output":
				if line := strings.TrimSpace(e.Output); line != "" && !strings.HasPrefix(line, "=== ") && !strings.HasPrefix(line, "--- ") {
					last[key] = line
				}
			case "pass":
				res.ran = true
				delete(running, key)
			case "fail":
				res.ran, res.failed = true, true
				delete(running, key)
			case "skip":
				if res.reason == "" {
					res.reason = last[key]
				}
				delete(running, key)
			}
		}
		if err := sc.Err(); err != nil {
			return totals{}, err
		}
		for key := range running {
			tests[key].ran, tests[key].failed = true, true
		}
	}
	var t totals
	for _, key := range order {
		res := tests[key]
		switch {
		case res.failed:
			t.failed = append(t.failed, key)
		case res.ran:
			t.passed++
		default:
			reason := res.reason
			if reason == "" {
				reason = "(no reason given)"
			}
			t.skipped = append(t.skipped, key+": "+reason)
		}
	}
	slices.Sort(t.skipped)
	return t, nil
}

func (t totals) print(w io.Writer) {
	if len(t.skipped) > 0 {
		fmt.Fprintf(w, "%d skipped (run in none of the runs):\n", len(t.skipped))
		for _, s := range t.skipped {
			fmt.Fprintln(w, "  "+s)
		}
	}
	if len(t.failed) > 0 {
		fmt.Fprintf(w, "%d failed (their output is above):\n", len(t.failed))
		for _, f := range t.failed {
			fmt.Fprintln(w, "  "+f)
		}
	}
	fmt.Fprintf(w, "tests: %d passed, %d failed, %d skipped\n", t.passed, len(t.failed), len(t.skipped))
}
