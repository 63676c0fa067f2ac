package gateway

// The identity rules of a claim, one for every path a claim comes by (the CLI, the admin API and page,
// a CSV, the cloud): a MAC in one canonical form, a serial and a group checked the same way.

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// NormalizeMAC accepts a MAC address written aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF, aabb.ccdd.eeff,
// aabb-ccdd-eeff, aabbcc-ddeeff or aabbccddeeff, in any case and with spaces around, and returns it in
// the lower-case colon form. It refuses anything else, and the broadcast, multicast (low bit of the
// first octet set) and all-zero addresses, with an error that says which, e.g.
// "mac 01:00:5e:00:00:01 is a multicast address".
func NormalizeMAC(s string) (string, error) {
	raw := strings.TrimSpace(s)
	if raw == "" {
		return "", errors.New("mac is empty")
	}
	hw, ok := parseMAC48(raw)
	if !ok {
		return "", fmt.Errorf("mac %q is not a MAC address", excerptForError(raw))
	}
	const hexDigits = "0123456789abcdef"
	var b [17]byte
	or, and := byte(0), byte(0xff)
	for i, o := range hw {
		if i > 0 {
			b[3*i-1] = ':'
		}
		b[3*i], b[3*i+1] = hexDigits[o>>4], hexDigits[o&0xf]
		or |= o
		and &= o
	}
	mac := string(b[:])
	switch {
	case or == 0:
		return "", fmt.Errorf("mac %s is all zeros", mac)
	case and == 0xff:
		return "", fmt.Errorf("mac %s is the broadcast address", mac)
	case hw[0]&1 == 1:
		return "", fmt.Errorf("mac %s is a multicast address", mac)
	}
	return mac, nil
}

// parseMAC48 reads 12 hex digits written as one run or in equal groups of 2, 4 or 6 digits split by
// one separator (':', '-' or '.') used throughout.
func parseMAC48(s string) (hw [6]byte, ok bool) {
	var group int
	switch len(s) {
	case 12:
		group = 12
	case 17:
		group = 2
	case 14:
		group = 4
	case 13:
		group = 6
	default:
		return hw, false
	}
	var sep byte
	if group < 12 {
		sep = s[group]
		if sep != ':' && sep != '-' && sep != '.' {
			return hw, false
		}
	}
	n := 0 // hex digits read
	for i := 0; i < len(s); i++ {
		c := s[i]
		if group < 12 && i%(group+1) == group {
			if c != sep {
				return hw, false
			}
			continue
		}
		v, isHex := hexValue(c)
		if !isHex {
			return hw, false
		}
		hw[n/2] = hw[n/2]<<4 | v
		n++
	}
	return hw, n == 12
}

func hexValue(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// excerptForError shortens s for an error message, on a rune boundary.
func excerptForError(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// MaxSerialLen is the longest serial, and the longest group name, accepted, in characters.
const MaxSerialLen = 128

// NormalizeSerial trims spaces around a serial and refuses an empty one, one longer than MaxSerialLen
// characters, one that is not UTF-8 and one with control characters or invisible formatting characters
// (a zero-width space, a stray BOM), which would never match the serial a device reports.
func NormalizeSerial(s string) (string, error) {
	return normalizeClaimText("serial", s, true)
}

// SameSerial reports whether two serials are the same, compared trimmed and case-insensitively.
func SameSerial(a, b string) bool {
	return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
}

// NormalizeGroup trims a group name and refuses one longer than MaxSerialLen characters, one that is
// not UTF-8 and one with control or invisible formatting characters. An empty group is "" with no error
// (the claim then lands in DefaultGroup).
func NormalizeGroup(s string) (string, error) {
	return normalizeClaimText("group", s, false)
}

// normalizeClaimText trims s and checks it as a serial or group name.
func normalizeClaimText(what, s string, required bool) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		if required {
			return "", fmt.Errorf("%s is empty", what)
		}
		return "", nil
	case !utf8.ValidString(s):
		return "", fmt.Errorf("%s %q is not UTF-8 text", what, excerptForError(s))
	case utf8.RuneCountInString(s) > MaxSerialLen:
		return "", fmt.Errorf("%s is longer than %d characters", what, MaxSerialLen)
	}
	for i, r := range s {
		if unicode.IsControl(r) {
			return "", fmt.Errorf("%s has a control character (%U at byte %d)", what, r, i)
		}
		if unicode.Is(unicode.Cf, r) {
			return "", fmt.Errorf("%s has an invisible formatting character (%U at byte %d)", what, r, i)
		}
	}
	return s, nil
}

// ClaimRow is one usable row of a claims CSV: its line number in the file (1-based), the MAC in the
// lower-case colon form, the trimmed serial and the group ("" when the row names none).
type ClaimRow struct {
	Line   int    `json:"line"`
	MAC    string `json:"mac"`
	Serial string `json:"serial"`
	Group  string `json:"group,omitempty"`
}
