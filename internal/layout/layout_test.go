// Package layout holds the test that keeps the project's import rules (DESIGN.md, STYLE.md): gateway
// imports no driver and no protocol library, drivers never import each other or the uplink, and each
// vendor library is imported by the one package that wraps it.
package layout

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const mod = "github.com/edgegw/edgegw"

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func list(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "-deps=false", mod+"/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	require.NoError(t, err)
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []pkg
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else {
			require.NoError(t, err)
		}
		pkgs = append(pkgs, p)
	}
	require.NotEmpty(t, pkgs)
	return pkgs
}

// owners says which packages (by path prefix inside the module) may import each vendor library.
var owners = map[string][]string{
	"github.com/gosnmp/gosnmp":   {"drivers/snmp", "sim"},
	"go.etcd.io/bbolt":           {"gateway/store"},
	"github.com/BurntSushi/toml": {"internal/tomlx", "drivers/profile"},
	// The console is the cloud side: an AMQP client of its own, sharing the protocol package.
	"github.com/Azure/go-amqp":   {"uplink", "cmd/edgegw-console"},
	"github.com/coder/websocket": {"uplink"},
	"github.com/goburrow/modbus": {"drivers/modbus", "sim"},
	"github.com/hashicorp/mdns":  {"drivers/mdns", "sim"},
	// hashicorp/mdns's own parser and multicast helpers, for the records it would drop.
	"github.com/miekg/dns": {"drivers/mdns", "sim"},
	"golang.org/x/net":     {"drivers/mdns", "sim"},
	// Metrics stay on the admin side: the core reports timings through gateway.Observer.
	"github.com/prometheus/client_golang": {"admin/metrics"},
}

func within(path string, prefixes []string) bool {
	rel := strings.TrimPrefix(strings.TrimPrefix(path, mod), "/")
	for _, p := range prefixes {
		if rel == p || strings.HasPrefix(rel, p+"/") {
			return true
		}
	}
	return false
}

func TestImportRules(t *testing.T) {
	for _, p := range list(t) {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, mod), "/")
		for _, imp := range p.Imports {
			for lib, who := range owners {
				if imp == lib || strings.HasPrefix(imp, lib+"/") {
					require.True(t, within(p.ImportPath, who), "%s imports %s; only %v may", rel, lib, who)
				}
			}
			irel, ours := strings.CutPrefix(imp, mod+"/")
			if !ours {
				continue
			}
			switch {
			case rel == "gateway" || strings.HasPrefix(rel, "gateway/"):
				require.False(t, strings.HasPrefix(irel, "drivers/") || strings.HasPrefix(irel, "uplink"),
					"gateway must not import %s", irel)
			case strings.HasPrefix(rel, "drivers/"):
				require.False(t, strings.HasPrefix(irel, "uplink"), "%s must not import %s", rel, irel)
				if strings.HasPrefix(irel, "drivers/") {
					require.Equal(t, strings.SplitN(rel, "/", 3)[1], strings.SplitN(irel, "/", 3)[1],
						"%s must not import another driver, %s", rel, irel)
				}
			case strings.HasPrefix(rel, "uplink"):
				require.False(t, strings.HasPrefix(irel, "drivers/") || strings.HasPrefix(irel, "admin"), "%s must not import %s", rel, irel)
			case rel == "admin" || strings.HasPrefix(rel, "admin/"):
				require.False(t, strings.HasPrefix(irel, "drivers/"), "%s must not import %s", rel, irel)
			}
		}
	}
}
