package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that a config it accepts passes
// Validate, and that every error it returns is well-formed (tomlx's own fuzz
// target checks the position index).
const gw = "[gateway]\nid = \"gw\"\n"

func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile("../config.example.toml"); err == nil {
		f.Add(data)
	}
	f.Add([]byte(gw + "[[discovery.snmp]]\ntargets = [\"127.0.0.1:16100\", \"127.0.10.0/28\", \"[::1]:161\"]\n"))
	f.Add([]byte(gw + "[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\nversion = \"3\"\n[discovery.snmp.v3]\nuser = \"u\"\nauth_password = \"12345678\"\npriv_password = \"87654321\"\n"))
	f.Add([]byte(gw + "[[discovery.snmp]]\ntargets = [\"127.0.0.1\"]\nversion = \"3\"\nv3 = {\n  user = \"u\",\n  auth_password = \"12345678\",\n  priv_protocol = \"none\",\n}\n"))
	f.Add([]byte("[discovery]\nInterval = \"1m\"\n[[discovery.snmp]]\ntargets = [\"300.1.1.1\", \"127.0.0.1:99999\"]\ntimeout = \"5x\"\nretries = \"1\"\n"))
	f.Add([]byte("[polling]\njitter = nan\ninterval = 1\n[log]\nlevel = 'x'\n"))
	f.Add([]byte("a = \"\"\"\n[[x]]\n\"\"\"\n'q.k' = 1\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return // positions are computed by scanning; keep runs fast
		}
		c, err := Parse("fuzz.toml", data)
		if err == nil {
			if c == nil {
				t.Fatal("nil config without error")
			}
			if verr := c.Validate(); verr != nil {
				t.Fatalf("accepted config does not validate: %v\ninput: %q", verr, data)
			}
			return
		}
		var es Errors
		if !errors.As(err, &es) || len(es) == 0 {
			t.Fatalf("error is not a non-empty Errors: %T %v", err, err)
		}
		for i, e := range es {
			if !strings.HasPrefix(e.Error(), "fuzz.toml") {
				t.Fatalf("error without file name: %q", e.Error())
			}
			if e.Line < 0 || e.Col < 0 || (e.Line > 0) != (e.Col > 0) {
				t.Fatalf("bad position in %q", e.Error())
			}
			if i > 0 && es[i-1].Line > e.Line {
				t.Fatalf("errors not sorted: %v", err)
			}
		}
	})
}
