package config

import (
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/edgegw/edgegw/internal/tomlx"
)

// Console is edgegw-console's configuration: the cloud side of the uplink, one [cloud] table with the
// connection keys of the gateway's (url, ca_file, cert_file, key_file, sasl, username, password_file,
// up_address, down_address, proxy, proxy_auth_file, insecure_plaintext, websocket_subprotocol) and
// nothing else. It is loaded as strictly as the gateway's config: unknown keys, wrong types and
// invalid values are errors at file:line:col, all reported at once.
type Console struct {
	// Cloud is the connection, validated as the gateway's [cloud] with enabled = true (implied: the
	// console exists to connect). Keys the console has no use for keep their defaults.
	Cloud Cloud
	// Path is the file the config came from, as given to LoadConsole; empty for ParseConsole.
	Path string

	warnings []string
}

// Warnings are problems that do not stop the console: world-readable secret files, plaintext.
func (c *Console) Warnings() []string { return append([]string(nil), c.warnings...) }

// consoleCloud is the part of Cloud a console file may set. Its tags must match Cloud's.
type consoleCloud struct {
	URL                  string `toml:"url"`
	CAFile               string `toml:"ca_file"`
	CertFile             string `toml:"cert_file"`
	KeyFile              string `toml:"key_file"`
	SASL                 string `toml:"sasl"`
	Username             string `toml:"username"`
	PasswordFile         string `toml:"password_file"`
	UpAddress            string `toml:"up_address"`
	DownAddress          string `toml:"down_address"`
	Proxy                string `toml:"proxy"`
	ProxyAuthFile        string `toml:"proxy_auth_file"`
	InsecurePlaintext    bool   `toml:"insecure_plaintext"`
	WebSocketSubprotocol string `toml:"websocket_subprotocol"`
}

type consoleFile struct {
	Cloud consoleCloud `toml:"cloud"`
}

// LoadConsole reads an edgegw-console config file. Relative paths (ca_file, cert_file, key_file,
// password_file, proxy_auth_file) are taken relative to the file's directory; the *_file secrets are
// read. Every problem is returned at once as Errors, each at file:line:col where the file allows.
func LoadConsole(path string) (*Console, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Errors{{Source: path, Msg: "cannot read config: " + reason(err), Err: err}}
	}
	c, err := parseConsole(path, data, filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	c.Path = path
	return c, nil
}

// ParseConsole is LoadConsole for a config already in memory; name is only used in messages and
// relative paths are taken relative to the current directory.
func ParseConsole(name string, data []byte) (*Console, error) {
	return parseConsole(name, data, "")
}

func parseConsole(name string, data []byte, baseDir string) (*Console, error) {
	doc, err := tomlx.Parse(name, data)
	if err != nil {
		return nil, err
	}
	raw := doc.Root
	var es errs
	place := func() error {
		for _, e := range es {
			doc.Add(e)
		}
		return doc.Err()
	}
	// Everything but [cloud] is refused with a message that says why, rather than a bare "unknown key".
	for _, k := range sortedKeys(raw) {
		if k != "cloud" {
			es.addAtKey(joinKey("", k), "unknown key: an edgegw-console config has only a [cloud] table")
			delete(raw, k)
		}
	}
	cloudRaw, ok := raw["cloud"]
	if !ok {
		es.add("cloud", "no [cloud] table: edgegw-console needs one, with at least url")
		return nil, place()
	}
	// Gateway-only keys ([cloud] enabled, health_interval, ...) get their own message.
	if m, ok := cloudRaw.(map[string]any); ok {
		allowed := tomlTags(reflect.TypeFor[consoleCloud]())
		gatewayKeys := tomlTags(reflect.TypeFor[Cloud]())
		m = maps.Clone(m)
		for _, k := range sortedKeys(m) {
			if !slices.Contains(allowed, k) && slices.Contains(gatewayKeys, k) {
				es.addAtKey(joinKey("cloud", k), "is a gateway setting; edgegw-console does not use it (remove it)")
				delete(m, k)
			}
		}
		raw["cloud"] = m
	}

	var f consoleFile
	tomlx.Decode(doc.Table(), &f)

	cl := defaultCloud()
	cl.Enabled = true
	cc := f.Cloud
	cl.URL, cl.CAFile, cl.CertFile, cl.KeyFile = cc.URL, cc.CAFile, cc.CertFile, cc.KeyFile
	cl.SASL, cl.Username, cl.PasswordFile = cc.SASL, cc.Username, cc.PasswordFile
	if cc.UpAddress != "" || hasKey(raw, "up_address") {
		cl.UpAddress = cc.UpAddress
	}
	if cc.DownAddress != "" || hasKey(raw, "down_address") {
		cl.DownAddress = cc.DownAddress
	}
	if cc.WebSocketSubprotocol != "" || hasKey(raw, "websocket_subprotocol") {
		cl.WebSocketSubprotocol = cc.WebSocketSubprotocol
	}
	cl.Proxy, cl.ProxyAuthFile, cl.InsecurePlaintext = cc.Proxy, cc.ProxyAuthFile, cc.InsecurePlaintext

	// The gateway's resolve and Validate, so the two read the same keys the same way.
	var scratch Config
	cl.resolve(&scratch, &es, baseDir)
	if err := cl.Validate(); err != nil {
		for _, e := range err.(Errors) {
			if e.Key == "cloud.url" && e.Msg == "required when cloud.enabled = true" {
				e.Msg = "required"
			}
			es = append(es, e)
		}
	}
	// Cloud.Validate's sasl check compares canonical()'s result with "", but canonical returns an
	// unknown spelling unchanged, so it never fires; check here until it does.
	if cl.SASL != "" && !slices.Contains(saslMechs, cl.SASL) {
		es.add("cloud.sasl", "%q is not one of %s", cl.SASL, quoteList(saslMechs))
	}
	if cl.WebSocketSubprotocol == "" {
		es.add("cloud.websocket_subprotocol", "must not be empty")
	}
	if err := place(); err != nil {
		return nil, err
	}
	// resolve's plaintext warning speaks of "the uplink"; say the same of the console.
	var w []string
	for _, s := range scratch.warnings {
		if !strings.HasPrefix(s, "cloud.insecure_plaintext") {
			w = append(w, s)
		}
	}
	if cl.InsecurePlaintext {
		w = append(w, "cloud.insecure_plaintext = true: the console may connect without TLS; everything it carries can be read and changed on the way")
	}
	return &Console{Cloud: cl, warnings: w}, nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// hasKey reports whether [cloud] sets key, so an explicit "" is validated rather than defaulted.
func hasKey(raw map[string]any, key string) bool {
	m, ok := raw["cloud"].(map[string]any)
	if !ok {
		return false
	}
	_, ok = m[key]
	return ok
}

// tomlTags lists the toml keys of a struct type.
func tomlTags(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		if tag := t.Field(i).Tag.Get("toml"); tag != "" && tag != "-" {
			out = append(out, tag)
		}
	}
	return out
}
