package config

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Admin is the [admin] table: the local web page, the admin API, /metrics and the health checks. The
// same API is always served on state_dir/admin.sock for the CLI; this table is about the TCP listener.
type Admin struct {
	// Listen is the TCP address of the page and API, host:port; "" turns the TCP listener off (the
	// unix socket stays). Only a loopback address unless AllowRemote.
	Listen string `toml:"listen"`
	// AllowRemote permits a non-loopback Listen address, and requires TLSCertFile and TLSKeyFile then:
	// the token and the session cookie never cross a network in clear text.
	AllowRemote bool `toml:"allow_remote"`
	// TLSCertFile and TLSKeyFile serve the listener over HTTPS (on loopback too, when set).
	TLSCertFile string `toml:"tls_cert_file"`
	TLSKeyFile  string `toml:"tls_key_file"`
	// DegradedAfter is how long the uplink may be down (enabled, not connected) before `edgegw status`,
	// /api/status and the page call the gateway degraded.
	DegradedAfter time.Duration `toml:"degraded_after"`
}

const (
	defaultAdminListen   = "127.0.0.1:8080"
	defaultDegradedAfter = 5 * time.Minute
)

func defaultAdmin() Admin {
	return Admin{Listen: defaultAdminListen, DegradedAfter: defaultDegradedAfter}
}

// TLS reports whether the listener serves HTTPS.
func (a *Admin) TLS() bool { return a.TLSCertFile != "" }

// Validate checks the [admin] table.
func (a *Admin) Validate() error {
	var es errs
	if a.DegradedAfter < time.Second {
		es.add("admin.degraded_after", "must be at least 1s, got %s", fmtDuration(a.DegradedAfter))
	}
	if (a.TLSCertFile == "") != (a.TLSKeyFile == "") {
		es.add("admin.tls_cert_file", "tls_cert_file and tls_key_file go together")
	}
	if a.Listen == "" {
		return es.err()
	}
	host, port, err := net.SplitHostPort(a.Listen)
	if err != nil {
		es.add("admin.listen", "%q is not host:port, like \"127.0.0.1:8080\"", a.Listen)
		return es.err()
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		es.add("admin.listen", "%q: port %q is not a number from 0 to 65535", a.Listen, port)
	}
	loopback := strings.EqualFold(host, "localhost")
	if ip, err := netip.ParseAddr(host); err == nil {
		loopback = ip.IsLoopback()
	} else if !loopback && host != "" {
		es.add("admin.listen", "%q: write the address as an IP address (or localhost), not a host name", a.Listen)
		return es.err()
	}
	if !loopback {
		switch {
		case !a.AllowRemote:
			es.add("admin.listen", "%q is not a loopback address: the admin page would be open to the network; "+
				"set allow_remote = true with tls_cert_file and tls_key_file to serve it to other hosts, or use an SSH tunnel", a.Listen)
		case !a.TLS():
			es.add("admin.allow_remote", "a non-loopback listen address needs tls_cert_file and tls_key_file: "+
				"the token and the session cookie must not cross the network in clear text")
		}
	}
	return es.err()
}

// resolve makes the TLS paths absolute.
func (a *Admin) resolve(baseDir string) {
	a.TLSCertFile = relTo(baseDir, a.TLSCertFile)
	a.TLSKeyFile = relTo(baseDir, a.TLSKeyFile)
}
