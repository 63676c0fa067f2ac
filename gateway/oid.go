package gateway

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ParseOID checks an OBJECT IDENTIFIER value written dotted, ".1.3.6.1" or "1.3.6.1", and returns it
// with a leading dot. Each arc is a decimal uint32
// without leading zeros (so that prefixes compare as strings); there are at least two.
func ParseOID(s string) (string, error) {
	if s == "" {
		return "", errors.New("is empty")
	}
	body := strings.TrimPrefix(s, ".")
	arcs := strings.Split(body, ".")
	if len(arcs) < 2 {
		return "", errors.New("needs at least two arcs")
	}
	for i, a := range arcs {
		if a == "" {
			return "", fmt.Errorf("arc %d is empty", i+1)
		}
		for _, c := range []byte(a) {
			if c < '0' || c > '9' {
				return "", fmt.Errorf("arc %d (%q) is not a number: an OID is numeric, dotted", i+1, a)
			}
		}
		if len(a) > 1 && a[0] == '0' {
			return "", fmt.Errorf("arc %d (%q) has a leading zero", i+1, a)
		}
		if _, err := strconv.ParseUint(a, 10, 32); err != nil {
			return "", fmt.Errorf("arc %d (%s) does not fit in 32 bits", i+1, a)
		}
	}
	return "." + body, nil
}
