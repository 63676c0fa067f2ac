package main

import (
	_ "embed"
	"fmt"
	"regexp"
	"strings"
)

// starterTOML is the starting configuration: config.example.toml with every discovery target commented
// out and the cloud off. The packages install it as /etc/edgegw/edgegw.toml and `edgegw init` writes it
// where there is no configuration yet. It is made from config.example.toml by makeStarter, and a test
// keeps it so (go test ./cmd/edgegw -run TestStarterConfig -update rewrites it).
//
//go:embed starter.toml
var starterTOML string

// Paths of the packaged layout, as the starter configuration says them.
const (
	starterStateDir    = "/var/lib/edgegw"
	starterProfilesDir = "/etc/edgegw/profiles"
)

const starterHeader = `# edgegw configuration. This is the starting configuration that the edgegw packages and
# "edgegw init" install: every option of config.example.toml with its default and its comment, with no
# discovery target and the cloud off, so the gateway starts and does nothing until you add the site's
# targets. docs/install.md walks through the first configuration.
#
# Check a change with:  edgegw config check --config /etc/edgegw/edgegw.toml
# and the certificates with:  edgegw init --check --config /etc/edgegw/edgegw.toml
`

// discoveryTable is a live (uncommented) table header of something that sends packets to a site.
var discoveryTable = regexp.MustCompile(`^\[\[?discovery\.(snmp|modbus|mdns)[\].]`)

// makeStarter turns config.example.toml into the starting configuration: its leading comment block
// is replaced by starterHeader; every live discovery table (snmp, modbus, mdns, and their sub-tables)
// is commented out line by line; the profiles dirs point at starterProfilesDir; the rest is kept as
// written, comments included, so every option stays documented where the site edits it.
func makeStarter(example string) (string, error) {
	lines := strings.Split(example, "\n")
	i := 0
	for i < len(lines) && strings.HasPrefix(lines[i], "#") {
		i++
	}
	out := []string{strings.TrimSuffix(starterHeader, "\n")}
	// Of the example's leading comment, keep the paragraphs that hold for any file (the loader's rules),
	// not its title nor what it says of itself (the simulator, where to copy it).
	var para []string
	for j, l := range lines[:i+1] {
		if j < i && strings.TrimSpace(l) != "#" {
			para = append(para, l)
			continue
		}
		text := strings.Join(para, " ")
		if len(para) > 0 && !strings.Contains(text, "simulator") && !strings.Contains(text, "Check a file") &&
			!strings.Contains(text, "every option, with its default") {
			out = append(out, "#")
			out = append(out, para...)
		}
		para = nil
	}
	inDiscovery, table, sawDirs, sawStateDir := false, "", false, false
	for _, l := range lines[i:] {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "[") {
			inDiscovery = discoveryTable.MatchString(t)
			table = strings.Trim(t, "[]")
			if inDiscovery {
				out = append(out, "# "+l)
				continue
			}
		}
		switch {
		case inDiscovery && t != "" && !strings.HasPrefix(t, "#"):
			l = "# " + l
		case table == "profiles" && strings.HasPrefix(t, "dirs ="):
			l = fmt.Sprintf("dirs = [%q]", starterProfilesDir)
			sawDirs = true
		case table == "gateway" && strings.HasPrefix(t, "state_dir ="):
			l = fmt.Sprintf("state_dir = %q", starterStateDir)
			sawStateDir = true
		}
		out = append(out, l)
	}
	if !sawDirs || !sawStateDir {
		return "", fmt.Errorf("config.example.toml: no live [profiles] dirs or [gateway] state_dir line to set")
	}
	return strings.Join(out, "\n"), nil
}

// starterFor is the starting configuration for gateway id, with its state and profiles where the
// platform and directory want them.
func starterFor(id, stateDir, profilesDir string) string {
	s, _ := setKey(starterTOML, "gateway", "id", id)
	s, _ = setKey(s, "gateway", "state_dir", stateDir)
	s, _ = setKey(s, "profiles", "dirs", profilesDir)
	return s
}

// keyLine is a live `key = value` line, with an optional trailing comment kept.
var keyLine = regexp.MustCompile(`^(\s*)([A-Za-z0-9_-]+)(\s*=\s*)("(?:[^"\\]|\\.)*"|'[^']*'|\[[^\]]*\])(\s*(?:#.*)?)$`)

// setKey sets a string value (or, for profiles dirs, a one-element list) of the first live `key =`
// line of [table] in a TOML text, keeping its indentation and trailing comment, and reports whether
// it found one. Only what edgegw init changes is handled: a string or a one-line array.
func setKey(text, table, key, value string) (string, bool) {
	lines := strings.Split(text, "\n")
	cur := ""
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "[") {
			cur = strings.Trim(strings.SplitN(t, "#", 2)[0], "[] \t")
			continue
		}
		if cur != table {
			continue
		}
		m := keyLine.FindStringSubmatch(l)
		if m == nil || m[2] != key {
			continue
		}
		v := tomlString(value)
		if strings.HasPrefix(m[4], "[") {
			v = "[" + v + "]"
		}
		lines[i] = m[1] + m[2] + m[3] + v + m[5]
		return strings.Join(lines, "\n"), true
	}
	return text, false
}

// tomlString quotes s as a TOML string: a basic string when nothing in it needs escaping, else a
// literal string (Windows paths keep their backslashes as written), else a basic string with escapes.
func tomlString(s string) string {
	switch {
	case !strings.ContainsAny(s, "\\\"\n\r\t"):
		return `"` + s + `"`
	case !strings.ContainsAny(s, "'\n\r"):
		return "'" + s + "'"
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}
