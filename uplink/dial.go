package uplink

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/coder/websocket"
)

// DefaultWebSocketSubprotocol is the AMQP-over-WebSocket subprotocol of the OASIS binding
// (amqp-wsb-v1.0) and the Azure IoT C SDK.
const DefaultWebSocketSubprotocol = "AMQPWSB10"

// SASL mechanisms accepted in DialConfig.SASL.
const (
	SASLExternal  = "external"
	SASLPlain     = "plain"
	SASLAnonymous = "anonymous"
)

// DialConfig is everything needed to reach the broker. The zero value of each field is documented
// beside it; URL is the only field that is always required.
type DialConfig struct {
	// URL of the broker: amqps://host[:5671], wss://host[:443][/path], or, only with
	// InsecurePlaintext, amqp://host[:5672] and ws://host[:80][/path]. Credentials in the URL are
	// refused: use Username and Password.
	URL string

	// CAFile is a PEM bundle of the CAs that may sign the broker's certificate; "" = the system roots.
	CAFile string
	// CertFile and KeyFile are the PEM client certificate and its key; "" (both) = no client certificate.
	// They are read on every Dial, so a renewed certificate is picked up at the next reconnect.
	CertFile, KeyFile string

	// SASL is "external" (X.509: the TLS client certificate is the identity), "plain" or "anonymous".
	// "" = "external" when CertFile is set, else "plain" when Username is set, else "anonymous".
	SASL string
	// Username and Password are the SASL PLAIN credentials. The caller reads Password from its
	// password_file; it never appears in an error.
	Username, Password string

	// InsecurePlaintext must be true to use amqp:// or ws:// (no TLS); otherwise Dial refuses them
	// before any network traffic. false = TLS only.
	InsecurePlaintext bool

	// Proxy is an HTTP CONNECT proxy, "http://host:port", for wss:// and amqps:// (and ws://, amqp://).
	// "" = connect directly. The environment (HTTPS_PROXY...) is never consulted.
	Proxy string
	// ProxyUser and ProxyPassword are sent as Proxy-Authorization: Basic; "" = no proxy authentication.
	ProxyUser, ProxyPassword string

	// WebSocketSubprotocol is the subprotocol asked for on ws:// and wss://; the server must select it.
	// "" = "AMQPWSB10" (OASIS). Use "amqp" for brokers following the Azure SDKs (and the rhea peer).
	WebSocketSubprotocol string

	// HostName is the hostname field of the AMQP open frame (a virtual host for some brokers:
	// RabbitMQ 3.x maps "vhost:NAME" to vhost NAME and anything else to its default vhost).
	// "" = the URL's host. It never changes the TLS server name, which is always the URL's host.
	HostName string
	// ContainerID is the AMQP container-id; "" = a random one chosen by go-amqp.
	ContainerID string
	// IdleTimeout is how long the connection may stay silent before it is considered dead (we
	// advertise half of it to the broker); 0 = go-amqp's default of 1 minute, < 0 = none.
	IdleTimeout time.Duration
}

// nistTLS12Suites are the TLS 1.2 cipher suites that NIST SP 800-52r2 (section 3.3.1) allows and
// Go implements, restricted to ECDHE (forward secrecy) with AEAD (AES-GCM): no CBC, no static RSA,
// no ChaCha20 (not a NIST algorithm). TLS 1.3 suites are not configurable in Go; all of them are
// AEAD with ephemeral keys.
var nistTLS12Suites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
}

// CipherSuites returns the TLS 1.2 cipher suites TLSConfig allows (a copy).
func CipherSuites() []uint16 { return append([]uint16(nil), nistTLS12Suites...) }

// TLSConfig builds the client TLS config: TLS 1.2 minimum; for TLS 1.2 only the NIST SP 800-52r2
// ECDHE AES-GCM suites (see CipherSuites); the server certificate is verified against CAFile (or the
// system roots) and its name against serverName, always; the client certificate if configured.
func TLSConfig(c DialConfig, serverName string) (*tls.Config, error) {
	if serverName == "" {
		return nil, errors.New("tls: no server name to verify the broker certificate against")
	}
	cfg := &tls.Config{
		ServerName:   serverName,
		MinVersion:   tls.VersionTLS12,
		CipherSuites: CipherSuites(),
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls: ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls: ca_file %s: no PEM certificate in it", c.CAFile)
		}
		cfg.RootCAs = pool
	}
	switch {
	case c.CertFile != "" && c.KeyFile != "":
		kp, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			// LoadX509KeyPair names files and PEM problems, never key material.
			return nil, fmt.Errorf("tls: client certificate %s: %w", c.CertFile, err)
		}
		cfg.Certificates = []tls.Certificate{kp}
	case c.CertFile != "" || c.KeyFile != "":
		return nil, errors.New("tls: cert_file and key_file must be set together")
	}
	return cfg, nil
}

// Dial connects, negotiates TLS and SASL, and returns an open *amqp.Conn. ctx bounds the whole
// establishment (TCP, proxy, TLS, WebSocket, SASL, AMQP open), not the connection's life.
// Errors say what failed and where, "uplink amqps://127.0.0.1:15685: tls: server certificate
// rejected: x509: certificate has expired or is not yet valid: ...", and never contain a password.
func Dial(ctx context.Context, c DialConfig) (*amqp.Conn, error) {
	u, err := url.Parse(c.URL)
	if err != nil {
		// url.Parse's error quotes the URL, which could hold a password.
		return nil, errors.New("uplink: url is not a valid URL")
	}
	where := "uplink " + redact(u)
	fail := func(err error) error { return fmt.Errorf("%s: %w", where, err) }

	p, err := plan(c, u)
	if err != nil {
		return nil, fail(err)
	}
	var conn net.Conn
	if p.websocket {
		conn, err = dialWebSocket(ctx, c, u, p)
	} else {
		conn, err = dialTCP(ctx, c, p)
	}
	if err != nil {
		return nil, fail(explain(ctx, err))
	}
	opts := &amqp.ConnOptions{
		ContainerID: c.ContainerID,
		HostName:    c.HostName,
		IdleTimeout: c.IdleTimeout,
		SASLType:    p.sasl,
	}
	if opts.HostName == "" {
		opts.HostName = u.Hostname()
	}
	ac, err := amqp.NewConn(ctx, conn, opts) // takes ownership of conn, closes it on failure
	if err != nil {
		return nil, fail(explainAMQP(ctx, p, c, err))
	}
	return ac, nil
}

// dialPlan is a checked DialConfig: everything that can be refused is refused before any traffic.
type dialPlan struct {
	addr      string // host:port of the broker
	tls       *tls.Config
	websocket bool
	subproto  string
	proxy     *url.URL // without user info
	mech      string
	sasl      amqp.SASLType
}

func plan(c DialConfig, u *url.URL) (*dialPlan, error) {
	p := &dialPlan{}
	if u.User != nil {
		return nil, errors.New("credentials in the url are not allowed: use username and password_file")
	}
	if u.Hostname() == "" {
		return nil, errors.New("url has no host")
	}
	var secure bool
	var port string
	switch u.Scheme {
	case "amqps", "amqp+ssl":
		secure, port = true, "5671"
	case "amqp":
		port = "5672"
	case "wss":
		secure, port, p.websocket = true, "443", true
	case "ws":
		port, p.websocket = "80", true
	default:
		return nil, fmt.Errorf("unsupported scheme %q: want amqps, wss, or with insecure_plaintext amqp, ws", u.Scheme)
	}
	if !secure && !c.InsecurePlaintext {
		return nil, fmt.Errorf("%s:// is unencrypted and refused: use %ss:// or set insecure_plaintext = true",
			u.Scheme, u.Scheme)
	}
	if u.Port() != "" {
		port = u.Port()
	}
	p.addr = net.JoinHostPort(u.Hostname(), port)
	if p.websocket {
		p.subproto = c.WebSocketSubprotocol
		if p.subproto == "" {
			p.subproto = DefaultWebSocketSubprotocol
		}
	}

	if c.Proxy != "" {
		pu, err := url.Parse(c.Proxy)
		if err != nil || pu.Scheme != "http" || pu.Host == "" {
			return nil, errors.New("proxy must be http://host:port")
		}
		if pu.User != nil {
			return nil, errors.New("credentials in the proxy url are not allowed: use the proxy auth file")
		}
		if pu.Port() == "" {
			pu.Host = net.JoinHostPort(pu.Hostname(), "80")
		}
		p.proxy = &url.URL{Scheme: pu.Scheme, Host: pu.Host}
	}

	p.mech = strings.ToLower(c.SASL)
	if p.mech == "" {
		switch {
		case c.CertFile != "":
			p.mech = SASLExternal
		case c.Username != "":
			p.mech = SASLPlain
		default:
			p.mech = SASLAnonymous
		}
	}
	switch p.mech {
	case SASLExternal:
		if !secure || c.CertFile == "" {
			return nil, errors.New("sasl external needs TLS and a client certificate (cert_file, key_file)")
		}
		p.sasl = amqp.SASLTypeExternal("")
	case SASLPlain:
		if c.Username == "" {
			return nil, errors.New("sasl plain needs a username")
		}
		p.sasl = amqp.SASLTypePlain(c.Username, c.Password)
	case SASLAnonymous:
		p.sasl = amqp.SASLTypeAnonymous()
	default:
		return nil, fmt.Errorf("unknown sasl mechanism %q: want external, plain or anonymous", c.SASL)
	}

	if secure {
		cfg, err := TLSConfig(c, u.Hostname())
		if err != nil {
			return nil, err
		}
		p.tls = cfg
	}
	return p, nil
}

// dialTCP connects to the broker, through the proxy if any, then does the TLS handshake if wanted.
func dialTCP(ctx context.Context, c DialConfig, p *dialPlan) (net.Conn, error) {
	var conn net.Conn
	var err error
	if p.proxy != nil {
		conn, err = dialConnect(ctx, p.proxy, c.ProxyUser, c.ProxyPassword, p.addr)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", p.addr)
	}
	if err != nil {
		return nil, err
	}
	if p.tls == nil {
		return conn, nil
	}
	tc := tls.Client(conn, p.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, &tlsError{err: err}
	}
	return &tlsConn{tc}, nil
}

// tlsConn surfaces a TLS alert the server sent after the handshake. With TLS 1.3 the server
// checks our certificate only after the client's handshake has completed; a refusal then arrives as
// an alert followed by a reset, and go-amqp's next write fails with a bare "connection reset by
// peer". The alert is usually still readable: report it instead.
type tlsConn struct{ *tls.Conn }

func (c *tlsConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if err != nil {
		if alert := c.pendingAlert(); alert != nil {
			return n, alert
		}
	}
	return n, err
}

func (c *tlsConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if isTLSAlert(err) {
		err = &tlsError{err: err}
	}
	return n, err
}

func (c *tlsConn) pendingAlert() error {
	_ = c.Conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	var b [1]byte
	_, err := c.Conn.Read(b[:])
	if isTLSAlert(err) {
		return &tlsError{err: err}
	}
	return nil
}

// dialConnect opens a tunnel to addr through an HTTP CONNECT proxy.
func dialConnect(ctx context.Context, proxy *url.URL, user, pass, addr string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", proxy.Host)
	if err != nil {
		return nil, &ProxyError{Proxy: proxy.String(), Target: addr, Err: err}
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()

	req := &http.Request{
		Method: http.MethodConnect,
		URL:    &url.URL{Opaque: addr},
		Host:   addr,
		Header: proxyHeader(user, pass),
	}
	resp, err := func() (*http.Response, error) {
		if err := req.Write(conn); err != nil {
			return nil, err
		}
		return http.ReadResponse(bufio.NewReaderSize(&oneByteReader{conn}, 1), req)
	}()
	if err != nil {
		conn.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, &ProxyError{Proxy: proxy.String(), Target: addr, Err: err}
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		conn.Close()
		return nil, &ProxyError{Proxy: proxy.String(), Target: addr, StatusCode: resp.StatusCode, Status: resp.Status}
	}
	if !stop() {
		conn.Close()
		return nil, ctx.Err()
	}
	return conn, nil
}

// oneByteReader makes bufio read the CONNECT reply byte by byte, so that nothing the server sends
// after the reply's header is swallowed by the buffer (the broker speaks only after us, but a proxy
// may pipeline).
type oneByteReader struct{ c net.Conn }

func (r *oneByteReader) Read(b []byte) (int, error) {
	if len(b) > 1 {
		b = b[:1]
	}
	return r.c.Read(b)
}

func proxyHeader(user, pass string) http.Header {
	h := http.Header{}
	if user != "" || pass != "" {
		h.Set("Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
	}
	return h
}

// ProxyError is a failed HTTP CONNECT: the proxy could not be reached or refused the tunnel.
type ProxyError struct {
	Proxy      string // proxy URL, without credentials
	Target     string // host:port asked for
	StatusCode int    // the proxy's answer, 0 if there was none
	Status     string
	Err        error // the transport error when StatusCode is 0
}

func (e *ProxyError) Error() string {
	s := "proxy " + e.Proxy + ": CONNECT " + e.Target + ": "
	switch {
	case e.StatusCode == http.StatusProxyAuthRequired:
		return s + e.Status + " (check the proxy user and password)"
	case e.StatusCode != 0:
		return s + e.Status
	default:
		return s + e.Err.Error()
	}
}

func (e *ProxyError) Unwrap() error { return e.Err }

// dialWebSocket does the WebSocket handshake (TLS through the HTTP transport for wss) and returns
// the connection as a net.Conn that lives until it is closed.
func dialWebSocket(ctx context.Context, c DialConfig, u *url.URL, p *dialPlan) (net.Conn, error) {
	tr := &http.Transport{TLSClientConfig: p.tls}
	defer tr.CloseIdleConnections()
	switch {
	case p.proxy != nil && p.tls != nil:
		// wss: the transport does the CONNECT, then TLS inside the tunnel. http.ProxyURL and not
		// ProxyFromEnvironment, which ignores loopback targets and reads the environment.
		tr.Proxy = http.ProxyURL(p.proxy)
		tr.ProxyConnectHeader = proxyHeader(c.ProxyUser, c.ProxyPassword)
		tr.OnProxyConnectResponse = func(_ context.Context, _ *url.URL, _ *http.Request, resp *http.Response) error {
			if resp.StatusCode != http.StatusOK {
				return &ProxyError{Proxy: p.proxy.String(), Target: p.addr, StatusCode: resp.StatusCode, Status: resp.Status}
			}
			return nil
		}
	case p.proxy != nil:
		// ws: a proxied plain-HTTP request would go to the proxy in absolute form, which few proxies
		// upgrade; tunnel it with CONNECT like everything else.
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialConnect(ctx, p.proxy, c.ProxyUser, c.ProxyPassword, p.addr)
		}
	}
	wsURL := *u
	wsURL.Scheme = map[bool]string{true: "https", false: "http"}[p.tls != nil]
	wc, resp, err := websocket.Dial(ctx, wsURL.String(), &websocket.DialOptions{
		HTTPClient:   &http.Client{Transport: tr},
		Subprotocols: []string{p.subproto},
	})
	if err != nil {
		var pe *ProxyError
		var cve *tls.CertificateVerificationError
		switch {
		case errors.As(err, &pe):
			return nil, pe
		case errors.As(err, &cve), isTLSAlert(err), strings.Contains(err.Error(), "tls: "):
			return nil, &tlsError{err: unwrapTLS(err)}
		case resp != nil:
			return nil, fmt.Errorf("websocket handshake: %s (want 101 Switching Protocols)", resp.Status)
		}
		return nil, fmt.Errorf("websocket: %w", err)
	}
	if got := wc.Subprotocol(); got != p.subproto {
		wc.Close(websocket.StatusProtocolError, "subprotocol not selected")
		return nil, fmt.Errorf("websocket: server selected subprotocol %q, want %q (see websocket_subprotocol)", got, p.subproto)
	}
	wc.SetReadLimit(-1) // the default 32 KiB cuts AMQP frames
	// The NetConn context must outlive this dial: cancelling it kills the socket.
	life, cancel := context.WithCancel(context.Background())
	return &wsConn{Conn: websocket.NetConn(life, wc, websocket.MessageBinary), cancel: cancel}, nil
}

// wsConn reports the errors of a WebSocket that we closed, or whose context ended, as net.ErrClosed,
// the error go-amqp expects from a connection it closed itself (it then reports a clean close).
type wsConn struct {
	net.Conn
	cancel context.CancelFunc
	once   sync.Once
	mu     sync.Mutex
	closed bool
}

func (w *wsConn) Read(b []byte) (int, error) {
	n, err := w.Conn.Read(b)
	return n, w.mapErr(err)
}

func (w *wsConn) Write(b []byte) (int, error) {
	n, err := w.Conn.Write(b)
	return n, w.mapErr(err)
}

func (w *wsConn) Close() error {
	err := net.ErrClosed
	w.once.Do(func() {
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		err = w.Conn.Close()
		w.cancel()
	})
	if errors.Is(err, net.ErrClosed) || errors.Is(err, context.Canceled) || cleanClose(err) {
		return nil
	}
	return err
}

// cleanClose reports whether err is the peer's close frame of an orderly shutdown. rhea answers
// go-amqp's AMQP close by closing the WebSocket without a status code (1005), sometimes before our
// own close frame is out; that is not a failure.
func cleanClose(err error) bool {
	switch websocket.CloseStatus(err) {
	case websocket.StatusNormalClosure, websocket.StatusGoingAway, websocket.StatusNoStatusRcvd:
		return true
	}
	return false
}

func (w *wsConn) mapErr(err error) error {
	if err == nil {
		return nil
	}
	w.mu.Lock()
	closed := w.closed
	w.mu.Unlock()
	if closed || errors.Is(err, context.Canceled) || errors.Is(err, net.ErrClosed) {
		return net.ErrClosed
	}
	if cleanClose(err) { // NetConn maps 1000 and 1001 to io.EOF, but not 1005
		return io.EOF
	}
	return err
}

// tlsError is a failed TLS handshake with the broker; Error names the likely cause.
type tlsError struct{ err error }

func (e *tlsError) Unwrap() error { return e.err }

func (e *tlsError) Error() string {
	var cve *tls.CertificateVerificationError
	if errors.As(e.err, &cve) {
		return "tls: server certificate rejected: " + cve.Err.Error()
	}
	msg := e.err.Error()
	switch {
	case strings.Contains(msg, "protocol version not supported"),
		strings.Contains(msg, "unsupported protocol version"):
		return "tls: " + msg + " (the server offers no TLS 1.2 or 1.3; TLS 1.0 and 1.1 are refused)"
	case strings.Contains(msg, "handshake failure"), strings.Contains(msg, "no cipher suite supported"),
		strings.Contains(msg, "insufficient security"):
		return "tls: " + msg + " (no cipher suite in common: TLS 1.2 is allowed only with the NIST SP 800-52r2" +
			" ECDHE AES-GCM suites)"
	case strings.Contains(msg, "certificate required"), strings.Contains(msg, "bad certificate"),
		strings.Contains(msg, "unknown certificate authority"):
		return "tls: " + msg + " (the server did not accept our client certificate: check cert_file and the broker's CA)"
	}
	return "tls: " + strings.TrimPrefix(msg, "tls: ")
}

func isTLSAlert(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "remote error"
}

// unwrapTLS digs the TLS error out of the HTTP client's wrapping (url.Error, websocket's text).
func unwrapTLS(err error) error {
	var cve *tls.CertificateVerificationError
	if errors.As(err, &cve) {
		return cve
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "remote error" {
		return oe
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// explain turns a transport error into one that says what happened. A timeout stays recognisable
// as one (errors.Is(err, context.DeadlineExceeded)), distinct from a refusal.
func explain(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("timed out: %w", err)
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		// go-amqp turns the ctx deadline into a socket deadline: "i/o timeout".
		return fmt.Errorf("timed out: %w: %w", context.DeadlineExceeded, err)
	case ctx.Err() != nil && !errors.Is(err, ctx.Err()):
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	return err
}

// explainAMQP names the SASL mechanism on authentication failures (go-amqp says "SASL PLAIN" for
// every mechanism) and scrubs the password, should a broker echo it.
func explainAMQP(ctx context.Context, p *dialPlan, c DialConfig, err error) error {
	var te *tlsError
	if errors.As(err, &te) {
		return te
	}
	err = explain(ctx, err)
	msg := err.Error()
	if c.Password != "" && strings.Contains(msg, c.Password) {
		return errors.New(strings.ReplaceAll(msg, c.Password, "<redacted>"))
	}
	if m := saslFailed.FindStringSubmatch(msg); m != nil {
		who := ""
		if p.mech == SASLPlain {
			who = fmt.Sprintf(" as %q", c.Username)
		}
		code, _ := strconv.ParseUint(m[1], 0, 8)
		return fmt.Errorf("sasl %s%s: refused by the broker: sasl outcome %d (%s)", p.mech, who, code, saslCodes[code])
	}
	return fmt.Errorf("amqp open: %w", err)
}

// saslFailed matches go-amqp's SASL outcome error, which says "SASL PLAIN" whatever the mechanism.
var saslFailed = regexp.MustCompile(`SASL \w+ auth failed with code (0x[0-9a-fA-F]+)`)

// saslCodes are the SASL outcome codes of AMQP 1.0 section 5.3.3.6.
var saslCodes = map[uint64]string{
	1: "auth: wrong credentials or identity not allowed",
	2: "sys: broker error",
	3: "sys-perm: broker error, do not retry",
	4: "sys-temp: broker error, retry later",
}

// redact returns u without its password and query, for errors and logs.
func redact(u *url.URL) string {
	r := *u
	r.RawQuery, r.Fragment = "", ""
	return r.Redacted()
}
