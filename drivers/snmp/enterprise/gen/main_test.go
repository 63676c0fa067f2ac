package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseIANA(t *testing.T) {
	data, err := os.ReadFile("testdata/registry.txt")
	require.NoError(t, err)
	entries, date, err := parse(data)
	require.NoError(t, err)
	require.Equal(t, "2001-02-03", date)
	entries, err = build(entries)
	require.NoError(t, err)
	require.Equal(t, []entry{
		{1, "Example Networks, Inc."},
		{2, "Wrapped Line Technologies Julie"},
		{3, "Softhyphen Tabbed Spaces GmbH&Co.KG"},
		{1106, "Uni-Q"},
		{32473, "Example Enterprise Number for Documentation Use"},
		{40001, "Telephony@Work Inc."},
	}, entries)

	var out bytes.Buffer
	require.NoError(t, write(&out, entries, "registry.txt", date))
	text := out.String()
	for _, personal := range []string{"Jane Roe", "jane.roe", "John Doe", "example.com", "example.org", "---none---"} {
		require.NotContains(t, text, personal)
	}
	require.Contains(t, text, "\n1106\tUni-Q\n")
	require.True(t, strings.HasPrefix(text, "# IANA Private Enterprise Numbers"))
}

func TestParseIANAOrder(t *testing.T) {
	_, _, err := parse([]byte("5\n  Five\n    c\n      e\n4\n  Four\n"))
	require.ErrorContains(t, err, "out of order")
	_, _, err = parse([]byte("5\n  Five\n    c\n      e\n6\n"))
	require.ErrorContains(t, err, "no organisation")
}

func TestParseJSON(t *testing.T) {
	entries, date, err := parse([]byte(` {"10": "Ten Corp.", "9": "ciscoSystems", "4": "Reserved"}`))
	require.NoError(t, err)
	require.Empty(t, date)
	entries, err = build(entries)
	require.NoError(t, err)
	require.Equal(t, []entry{{9, "ciscoSystems"}, {10, "Ten Corp."}}, entries)

	_, _, err = parse([]byte(`{"x": "y"}`))
	require.Error(t, err)
}

func TestAddressInOrganisation(t *testing.T) {
	for _, tc := range []struct {
		n    uint32
		org  string
		want string
		err  bool
	}{
		{n: 7, org: "Foo Ltd Bar Baz bar&foo.example", err: true},
		{n: 7, org: "Foo Ltd Bar Baz bar@foo.example", err: true},
		{n: 1106, org: "Uni-QA Person a.person&example.se", want: "Uni-Q"},
		{n: 1106, org: "Uni-Q", want: "Uni-Q"},                                                     // fixed by the registry: taken as it is
		{n: 1106, org: "Other Name x&example.se", err: true},                                       // changed: the repair no longer applies
		{n: 8, org: "Lohmann GmbH&Co.KG", want: "Lohmann GmbH&Co.KG"},                              // a legal form, not an address
		{n: 9, org: "AT&T", want: "AT&T"},                                                          // no domain
		{n: 10, org: "@Home Network", want: "@Home Network"},                                       // a brand, not an address
		{n: 11, org: "  Reserved ", want: ""},                                                      // unassigned
		{n: 12, org: "Wohnungs\u00adaktien\u00adgesellschaft", want: "Wohnungsaktiengesellschaft"}, // soft hyphens
	} {
		got, err := clean(tc.n, tc.org)
		if tc.err {
			require.Error(t, err, tc.org)
			continue
		}
		require.NoError(t, err, tc.org)
		require.Equal(t, tc.want, got, tc.org)
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	var stderr bytes.Buffer
	require.ErrorContains(t, run([]string{"-src="}, &stderr), "ENTERPRISE_NUMBERS")
	// The fixture is far smaller than the registry: run refuses to write a partial table.
	out := filepath.Join(dir, "registry.tsv")
	require.ErrorContains(t, run([]string{"-src", "testdata/registry.txt", "-out", out}, &stderr), "whole registry")
	_, err := os.Stat(out)
	require.True(t, os.IsNotExist(err))
}
