package main

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/edgegw/edgegw/config"
)

// addTarget adds one --target URL to cfg's discovery tables, read by the driver of its scheme
// (snmp://[community@]host[:port], modbus://host[:port]?unit=1, mdns://_service._tcp?interface=IF, ...).
// i numbers the target in credential references ("target[2]"). No error repeats the URL's user
// information (an SNMP community).
func (ps protoSet) addTarget(cfg *config.Config, raw string, i int) error {
	scheme, _, ok := strings.Cut(raw, "://")
	if !ok {
		return errors.New("want a URL: " + ps.schemes())
	}
	for _, s := range ps {
		if s.Name != scheme {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil {
			return errors.New("not a URL (check its escaping)") // url's errors quote the whole URL
		}
		t, err := s.Target(u, i)
		if err != nil {
			return err
		}
		if cfg.Discovery.Tables == nil {
			cfg.Discovery.Tables = map[string][]config.Table{}
		}
		cfg.Discovery.Tables[s.Name] = append(cfg.Discovery.Tables[s.Name], t)
		return cfg.Discovery.Validate()
	}
	return fmt.Errorf("unsupported scheme %q (want %s)", scheme, ps.schemes())
}

// schemes lists the target URL schemes the drivers take.
func (ps protoSet) schemes() string {
	var out []string
	for _, s := range ps {
		out = append(out, s.Name+"://")
	}
	return strings.Join(out, ", ")
}

// redactURL is a --target URL fit for a message: its user information (an SNMP community, a password)
// replaced.
func redactURL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	host, tail, _ := strings.Cut(rest, "/")
	if at := strings.LastIndex(host, "@"); at >= 0 {
		host = "<redacted>" + host[at:]
	}
	if tail != "" || strings.Contains(rest, "/") {
		return scheme + "://" + host + "/" + tail
	}
	return scheme + "://" + host
}
