package config

import (
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
)

// redacted is what every printing path shows instead of a secret.
const redacted = "<redacted>"

// Secret holds a credential (an SNMP community, a USM password). Every way Go
// code commonly prints or serializes a value — fmt verbs, JSON, text
// marshaling, slog — yields "<redacted>", so dumping a Config into a log, a
// support bundle or the gateway twin cannot leak it. Only Reveal returns the
// value, which makes each real use easy to find with grep.
//
// An empty Secret prints as "<redacted>" too: whether a credential is set is
// shown by the config's other fields (community_file and so on), not here.
type Secret string

// Reveal returns the secret value, for handing to the protocol library.
func (s Secret) Reveal() string { return string(s) }

// Format implements fmt.Formatter. String alone is not enough: for a verb that
// does not fit a string (%d), fmt prints the underlying value raw, bypassing
// String, and Format is the only hook it still calls.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, s.GoString())
		return
	}
	_, _ = io.WriteString(f, redacted)
}

// String implements fmt.Stringer for %v and %s.
func (s Secret) String() string { return redacted }

// GoString implements fmt.GoStringer for %#v.
func (s Secret) GoString() string { return `"` + redacted + `"` }

// MarshalText implements encoding.TextMarshaler (TOML, YAML, map keys).
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// userinfo is a URL's user information: from the scheme's "//" to the last "@" before the host ends.
var userinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.\-]*://)[^/?#\s"'<>]*@`)

// RedactURLs returns text with the user information of every URL in it (an SNMP community, a user and
// password) replaced by <redacted>: for messages that echo what a user typed or configured, which may
// be a URL with a secret in it.
func RedactURLs(text string) string {
	if !strings.Contains(text, "@") {
		return text
	}
	return userinfo.ReplaceAllString(text, "${1}"+redacted+"@")
}
