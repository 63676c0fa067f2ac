package config

import (
	"net/url"
	"slices"
	"strings"
	"time"
)

// Cloud is the [cloud] table: the one outbound AMQP 1.0 connection that carries every claimed device.
type Cloud struct {
	// Enabled turns the uplink on. Off, discovery and polling go on locally and messages wait in the
	// outbox (bounded by OutboxMaxBytes).
	Enabled bool `toml:"enabled"`
	// URL is amqps://host:port, wss://host:port/path, or (with InsecurePlaintext) amqp:// or ws://.
	URL string `toml:"url"`
	// CAFile verifies the broker's certificate ("" = the system roots); CertFile/KeyFile are the
	// gateway's client certificate (SASL EXTERNAL).
	CAFile   string `toml:"ca_file"`
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
	// SASL is "external", "plain" or "anonymous"; default external with a client certificate, else
	// anonymous.
	SASL         string `toml:"sasl"`
	Username     string `toml:"username"`
	PasswordFile string `toml:"password_file"`
	// Password is read from PasswordFile at load.
	Password Secret `toml:"-"`
	// UpAddress and DownAddress are the sender's target and the receiver's source; "{gateway_id}" is
	// replaced by gateway.id.
	UpAddress   string `toml:"up_address"`
	DownAddress string `toml:"down_address"`
	// Proxy is an HTTP CONNECT proxy (http://host:port); ProxyAuthFile holds "user:password" for it.
	Proxy         string `toml:"proxy"`
	ProxyAuthFile string `toml:"proxy_auth_file"`
	// ProxyAuth is read from ProxyAuthFile at load ("user:password").
	ProxyAuth Secret `toml:"-"`
	// InsecurePlaintext allows amqp:// and ws:// (no TLS); logged loudly.
	InsecurePlaintext bool `toml:"insecure_plaintext"`
	// WebSocketSubprotocol is offered on wss:// ("AMQPWSB10" by the OASIS spec; some brokers want "amqp").
	WebSocketSubprotocol string `toml:"websocket_subprotocol"`
	// HealthInterval between health messages.
	HealthInterval time.Duration `toml:"health_interval"`
	// OutboxMaxBytes bounds the on-disk outbox; when full, the oldest telemetry is dropped first.
	OutboxMaxBytes int `toml:"outbox_max_bytes"`
	// ReconnectMax caps the reconnect backoff.
	ReconnectMax time.Duration `toml:"reconnect_max"`
	// Window is how many messages may await the broker's acknowledgement at once.
	Window int `toml:"window"`
	// TelemetryBatch, when not zero, gathers every device's poll readings for this long and sends
	// them as one telemetry-batch message instead of one telemetry message per poll: at thousands of
	// devices the per-message cost (outbox, AMQP transfer and disposition) is most of the gateway's
	// work. 0 (default) keeps one telemetry message per poll; 100ms..60s.
	TelemetryBatch time.Duration `toml:"telemetry_batch"`
}

const (
	defaultUpAddress      = "/queue/edgegw.up"
	defaultDownAddress    = "/queue/edgegw.down.{gateway_id}"
	defaultSubprotocol    = "AMQPWSB10"
	defaultHealthInterval = time.Minute
	defaultOutboxMax      = 64 << 20
	defaultReconnectMax   = time.Minute
	defaultWindow         = 64
)

func defaultCloud() Cloud {
	return Cloud{UpAddress: defaultUpAddress, DownAddress: defaultDownAddress, WebSocketSubprotocol: defaultSubprotocol,
		HealthInterval: defaultHealthInterval, OutboxMaxBytes: defaultOutboxMax, ReconnectMax: defaultReconnectMax,
		Window: defaultWindow}
}

var saslMechs = []string{"external", "plain", "anonymous"}

// Address fills "{gateway_id}" in an address template.
func (c *Cloud) Address(template, gatewayID string) string {
	return strings.ReplaceAll(template, "{gateway_id}", gatewayID)
}

// Mechanism is the SASL mechanism in effect: sasl as written, else external with a client certificate,
// else anonymous.
func (c *Cloud) Mechanism() string {
	switch {
	case c.SASL != "":
		return canonical(c.SASL, saslMechs)
	case c.CertFile != "":
		return "external"
	}
	return "anonymous"
}

// Validate checks the [cloud] table. Most checks apply only when the uplink is enabled, so a site can
// keep a half-written table switched off.
func (c *Cloud) Validate() error {
	var es errs
	if c.HealthInterval < time.Second {
		es.add("cloud.health_interval", "must be at least 1s, got %s", fmtDuration(c.HealthInterval))
	}
	if c.ReconnectMax < time.Second {
		es.add("cloud.reconnect_max", "must be at least 1s, got %s", fmtDuration(c.ReconnectMax))
	}
	if c.OutboxMaxBytes < 1<<20 {
		es.add("cloud.outbox_max_bytes", "must be at least 1048576 (1 MiB), got %d", c.OutboxMaxBytes)
	}
	checkRange(&es, "cloud.window", c.Window, 1, 4096)
	if c.TelemetryBatch != 0 && (c.TelemetryBatch < 100*time.Millisecond || c.TelemetryBatch > time.Minute) {
		es.add("cloud.telemetry_batch", "must be 0 (one telemetry message per poll) or between 100ms and 1m, got %s", fmtDuration(c.TelemetryBatch))
	}
	if c.SASL != "" && !slices.Contains(saslMechs, canonical(c.SASL, saslMechs)) {
		es.add("cloud.sasl", "%q is not one of %s", c.SASL, quoteList(saslMechs))
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		es.add("cloud.cert_file", "cert_file and key_file go together")
	}
	if c.Proxy != "" {
		if u, err := url.Parse(c.Proxy); err != nil || u.Scheme != "http" || u.Host == "" {
			es.add("cloud.proxy", "%q is not an http://host:port proxy URL", RedactURLs(c.Proxy))
		}
	}
	if !c.Enabled {
		return es.err()
	}
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		es.add("cloud.url", "required when cloud.enabled = true")
	case err != nil || u.Host == "":
		es.add("cloud.url", "%q is not a URL like amqps://broker.example:5671", RedactURLs(c.URL))
	case u.User != nil:
		es.add("cloud.url", "must not hold credentials; use username and password_file")
	default:
		switch u.Scheme {
		case "amqps", "wss":
		case "amqp", "ws":
			if !c.InsecurePlaintext {
				es.add("cloud.url", "%s:// sends everything in clear text; use amqps:// or wss://, or set insecure_plaintext = true", u.Scheme)
			}
		default:
			es.add("cloud.url", "scheme %q is not amqps, wss, amqp or ws", u.Scheme)
		}
	}
	switch c.Mechanism() {
	case "external":
		if c.CertFile == "" {
			es.add("cloud.sasl", "external needs cert_file and key_file (the client certificate)")
		}
	case "plain":
		if c.Username == "" {
			es.add("cloud.username", "required with sasl = \"plain\"")
		}
		if c.Password == "" && c.PasswordFile == "" {
			es.add("cloud.password_file", "required with sasl = \"plain\"")
		}
	}
	if c.UpAddress == "" {
		es.add("cloud.up_address", "must not be empty")
	}
	if c.DownAddress == "" {
		es.add("cloud.down_address", "must not be empty")
	}
	return es.err()
}

// resolve reads the cloud secrets and makes paths absolute.
func (c *Cloud) resolve(cfg *Config, es *errs, baseDir string) {
	for _, p := range []*string{&c.CAFile, &c.CertFile, &c.KeyFile} {
		if *p != "" {
			*p = relTo(baseDir, *p)
		}
	}
	c.SASL = canonical(c.SASL, saslMechs)
	cfg.readSecret(es, "cloud", "password", &c.Password, &c.PasswordFile, baseDir)
	cfg.readSecret(es, "cloud", "proxy_auth", &c.ProxyAuth, &c.ProxyAuthFile, baseDir)
	if c.ProxyAuth != "" && !strings.Contains(c.ProxyAuth.Reveal(), ":") {
		es.add("cloud.proxy_auth_file", "must hold user:password on one line")
	}
	if c.Enabled && c.InsecurePlaintext {
		cfg.warnings = append(cfg.warnings, "cloud.insecure_plaintext = true: the uplink may run without TLS; everything it carries can be read and changed on the way")
	}
}
