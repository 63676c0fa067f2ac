package gateway

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"unicode"
)

// NormalizeMAC accepts aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF, aabb.ccdd.eeff and aabbccddeeff (spaces
// around are fine) and refuses broadcast, multicast and all-zero addresses, saying which. It returns the
// lower-case colon form.
func NormalizeMAC(s string) (string, error) {
	raw := strings.TrimSpace(s)
	hex := strings.NewReplacer(":", "", "-", "", ".", "").Replace(raw)
	if len(hex) != 12 {
		return "", fmt.Errorf("mac %q is not a MAC address", excerptOf(raw))
	}
	hw, err := net.ParseMAC(hex[0:2] + ":" + hex[2:4] + ":" + hex[4:6] + ":" + hex[6:8] + ":" + hex[8:10] + ":" + hex[10:12])
	if err != nil {
		return "", fmt.Errorf("mac %q is not a MAC address", excerptOf(raw))
	}
	switch {
	case hw[0]|hw[1]|hw[2]|hw[3]|hw[4]|hw[5] == 0:
		return "", fmt.Errorf("mac %s is all zeros", hw)
	case hw[0]&hw[1]&hw[2]&hw[3]&hw[4]&hw[5] == 0xff:
		return "", fmt.Errorf("mac %s is the broadcast address", hw)
	case hw[0]&1 == 1:
		return "", fmt.Errorf("mac %s is a multicast address", hw)
	}
	return hw.String(), nil
}

// NormalizeSerial trims a serial and refuses an empty one, one over 128 characters, or one with control
// characters.
func NormalizeSerial(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", errors.New("serial is empty")
	case len(s) > 128:
		return "", errors.New("serial is longer than 128 characters")
	case strings.ContainsFunc(s, unicode.IsControl):
		return "", errors.New("serial contains control characters")
	}
	return s, nil
}

// SameSerial compares serials trimmed and case-insensitively.
func SameSerial(a, b string) bool {
	return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
}

func excerptOf(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// ClaimRow is one usable row of a claims CSV.
type ClaimRow struct {
	Line   int    `json:"line"`
	MAC    string `json:"mac"`
	Serial string `json:"serial"`
	Group  string `json:"group,omitempty"`
}

// ClaimRowError is a row that could not be used: its line and why.
type ClaimRowError struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

func (e ClaimRowError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// ClaimsCSV is a parsed claims file.
type ClaimsCSV struct {
	Rows   []ClaimRow
	Errors []ClaimRowError
	// Duplicates counts rows identical to an earlier one (dropped).
	Duplicates int
}

// Limits of a claims file.
const (
	MaxClaimRows    = 100000
	maxClaimLineLen = 4096
)

// ParseClaimsCSV reads MAC,Serial[,Group] rows, with or without a header row, tolerating a UTF-8 BOM,
// CRLF, blank lines, '#' comments, quoted fields and spaces. A bad row never stops the others: it becomes
// a ClaimRowError. A MAC repeated with the same serial and group is a duplicate (dropped, counted); with
// another serial or group it is an error naming the first line. The error is for I/O failures and files
// over MaxClaimRows only.
func ParseClaimsCSV(r io.Reader) (ClaimsCSV, error) {
	var out ClaimsCSV
	br := bufio.NewReaderSize(r, 64<<10)
	if b, err := br.Peek(3); err == nil && string(b) == "\xef\xbb\xbf" {
		br.Discard(3)
	}
	first := map[string]ClaimRow{}
	var cols []int // from a header: the MAC, Serial and Group columns (Group -1 when absent)
	line := 0
	sawData := false
	for {
		text, err := br.ReadString('\n')
		if text == "" && err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, fmt.Errorf("read claims: %w", err)
		}
		line++
		trimmed := strings.TrimSpace(text)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if len(text) > maxClaimLineLen {
			out.Errors = append(out.Errors, ClaimRowError{line, fmt.Sprintf("line is %d bytes, longer than %d", len(text), maxClaimLineLen)})
			continue
		}
		if len(out.Rows)+len(out.Errors)+out.Duplicates >= MaxClaimRows {
			return out, fmt.Errorf("more than %d rows: split the file", MaxClaimRows)
		}
		cr := csv.NewReader(strings.NewReader(trimmed))
		cr.FieldsPerRecord, cr.LazyQuotes, cr.TrimLeadingSpace = -1, true, true
		fields, perr := cr.Read()
		if perr != nil {
			out.Errors = append(out.Errors, ClaimRowError{line, "not a CSV row: " + perr.Error()})
			continue
		}
		for i := range fields {
			fields[i] = strings.TrimSpace(fields[i])
		}
		if !sawData && isClaimHeader(fields) {
			sawData = true
			cols = headerColumns(fields)
			continue
		}
		sawData = true
		if cols != nil {
			// A header names the columns: MAC, Serial and Group are taken by name, others ignored (the
			// simulator's MAC,Serial,Address,Model file imports as it is).
			picked := []string{at(fields, cols[0]), at(fields, cols[1])}
			if cols[2] >= 0 {
				picked = append(picked, at(fields, cols[2]))
			}
			fields = picked
		} else if len(fields) < 2 || len(fields) > 3 {
			out.Errors = append(out.Errors, ClaimRowError{line, fmt.Sprintf("%d fields: want MAC,Serial[,Group]", len(fields))})
			continue
		}
		mac, err := NormalizeMAC(fields[0])
		if err != nil {
			out.Errors = append(out.Errors, ClaimRowError{line, err.Error()})
			continue
		}
		serial, err := NormalizeSerial(fields[1])
		if err != nil {
			out.Errors = append(out.Errors, ClaimRowError{line, err.Error()})
			continue
		}
		row := ClaimRow{Line: line, MAC: mac, Serial: serial}
		if len(fields) == 3 {
			row.Group = fields[2]
			if len(row.Group) > 128 {
				out.Errors = append(out.Errors, ClaimRowError{line, "group is longer than 128 characters"})
				continue
			}
		}
		if prev, dup := first[mac]; dup {
			if SameSerial(prev.Serial, serial) && prev.Group == row.Group {
				out.Duplicates++
			} else {
				out.Errors = append(out.Errors, ClaimRowError{line, fmt.Sprintf("mac %s again with another serial or group: duplicate of line %d", mac, prev.Line)})
			}
			continue
		}
		first[mac] = row
		out.Rows = append(out.Rows, row)
	}
}

// isClaimHeader recognises a header row: a first field that is not a MAC but names one.
func isClaimHeader(fields []string) bool {
	if len(fields) == 0 {
		return false
	}
	if _, err := NormalizeMAC(fields[0]); err == nil {
		return false
	}
	f := strings.ToLower(fields[0])
	return strings.Contains(f, "mac")
}

// headerColumns finds the MAC, serial and group columns of a header row; MAC and serial default to the
// first two columns.
func headerColumns(h []string) []int {
	cols := []int{0, 1, -1}
	for i, f := range h {
		f = strings.ToLower(f)
		switch {
		case strings.Contains(f, "mac"):
			cols[0] = i
		case strings.Contains(f, "serial"):
			cols[1] = i
		case strings.Contains(f, "group"):
			cols[2] = i
		}
	}
	return cols
}

func at(fields []string, i int) string {
	if i < 0 || i >= len(fields) {
		return ""
	}
	return fields[i]
}
