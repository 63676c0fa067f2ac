package uplink

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/edgegw/edgegw/internal/peers"
)

func TestTLSConfig(t *testing.T) {
	cfg, err := TLSConfig(DialConfig{}, "broker.example")
	require.NoError(t, err)
	require.Equal(t, uint16(tls.VersionTLS12), cfg.MinVersion)
	require.Equal(t, "broker.example", cfg.ServerName)
	require.False(t, cfg.InsecureSkipVerify)
	require.Nil(t, cfg.RootCAs, "no ca_file: the system roots")
	require.Empty(t, cfg.Certificates)
	// NIST SP 800-52r2 section 3.3.1.1, the ECDHE AEAD suites Go implements.
	require.Equal(t, []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	}, cfg.CipherSuites)
	for _, id := range cfg.CipherSuites {
		var s *tls.CipherSuite
		for _, cs := range tls.CipherSuites() { // the secure list: none of ours is in InsecureCipherSuites
			if cs.ID == id {
				s = cs
			}
		}
		require.NotNil(t, s, "suite %#04x", id)
		require.Contains(t, s.Name, "_ECDHE_")
		require.Contains(t, s.Name, "_GCM_")
		require.Contains(t, s.SupportedVersions, uint16(tls.VersionTLS12))
	}
	cfg.CipherSuites[0] = 0 // a caller's change must not leak into the next config
	require.Equal(t, CipherSuites(), mustTLS(t, DialConfig{}).CipherSuites)

	_, err = TLSConfig(DialConfig{CertFile: "c.pem"}, "h")
	require.EqualError(t, err, "tls: cert_file and key_file must be set together")
	_, err = TLSConfig(DialConfig{CAFile: "/nonexistent/ca.pem"}, "h")
	require.ErrorContains(t, err, "tls: ca_file: open /nonexistent/ca.pem: no such file or directory")
	_, err = TLSConfig(DialConfig{}, "")
	require.Error(t, err)
}

func mustTLS(t *testing.T, c DialConfig) *tls.Config {
	cfg, err := TLSConfig(c, "h")
	require.NoError(t, err)
	return cfg
}

func TestTLSConfigPeerFiles(t *testing.T) {
	v := peers.Need(t, "PEERS_CA", "PEERS_CLIENT_CERT", "PEERS_CLIENT_KEY")
	cfg, err := TLSConfig(DialConfig{CAFile: v[0], CertFile: v[1], KeyFile: v[2]}, "localhost")
	require.NoError(t, err)
	require.NotNil(t, cfg.RootCAs)
	require.Len(t, cfg.Certificates, 1)
	_, err = TLSConfig(DialConfig{CAFile: v[2]}, "localhost") // a key is no CA
	require.ErrorContains(t, err, "no PEM certificate")
}

// TestDialRefusesBeforeTraffic: configurations Dial must refuse without touching the network.
func TestDialRefusesBeforeTraffic(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var accepted atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	addr := ln.Addr().String()

	for _, tc := range []struct {
		name string
		cfg  DialConfig
		want string
	}{
		{"amqp without insecure_plaintext", DialConfig{URL: "amqp://" + addr},
			"uplink amqp://" + addr + ": amqp:// is unencrypted and refused: use amqps:// or set insecure_plaintext = true"},
		{"ws without insecure_plaintext", DialConfig{URL: "ws://" + addr + "/amqp", WebSocketSubprotocol: "amqp"},
			"uplink ws://" + addr + "/amqp: ws:// is unencrypted and refused: use wss:// or set insecure_plaintext = true"},
		{"credentials in url", DialConfig{URL: "amqps://u:hunter2@" + addr},
			"uplink amqps://u:xxxxx@" + addr + ": credentials in the url are not allowed: use username and password_file"},
		{"unknown scheme", DialConfig{URL: "https://" + addr},
			"uplink https://" + addr + ": unsupported scheme \"https\": want amqps, wss, or with insecure_plaintext amqp, ws"},
		{"external without cert", DialConfig{URL: "amqps://" + addr, SASL: "external"},
			"uplink amqps://" + addr + ": sasl external needs TLS and a client certificate (cert_file, key_file)"},
		{"external over plaintext", DialConfig{URL: "amqp://" + addr, SASL: "EXTERNAL", InsecurePlaintext: true, CertFile: "c", KeyFile: "k"},
			"uplink amqp://" + addr + ": sasl external needs TLS and a client certificate (cert_file, key_file)"},
		{"plain without user", DialConfig{URL: "amqps://" + addr, SASL: "plain", Password: "hunter2"},
			"uplink amqps://" + addr + ": sasl plain needs a username"},
		{"unknown sasl", DialConfig{URL: "amqps://" + addr, SASL: "scram"},
			"uplink amqps://" + addr + ": unknown sasl mechanism \"scram\": want external, plain or anonymous"},
		{"proxy not http", DialConfig{URL: "wss://" + addr, Proxy: "socks5://" + addr},
			"uplink wss://" + addr + ": proxy must be http://host:port"},
		{"proxy credentials in url", DialConfig{URL: "wss://" + addr, Proxy: "http://u:hunter2@" + addr},
			"uplink wss://" + addr + ": credentials in the proxy url are not allowed: use the proxy auth file"},
		{"missing ca file", DialConfig{URL: "amqps://" + addr, CAFile: "/nonexistent/ca.pem"},
			"uplink amqps://" + addr + ": tls: ca_file: open /nonexistent/ca.pem: no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Dial(context.Background(), tc.cfg)
			require.EqualError(t, err, tc.want)
			require.NotContains(t, err.Error(), "hunter2")
		})
	}
	require.Zero(t, accepted.Load(), "a refused configuration must not reach the network")
}

func TestDialRabbitExternal(t *testing.T) {
	v := peers.Need(t, "PEERS_AMQPS_URL", "PEERS_CA", "PEERS_CLIENT_CERT", "PEERS_CLIENT_KEY")
	// SASL "" with a client certificate = EXTERNAL: the certificate's CN is the RabbitMQ user.
	conn := dial(t, DialConfig{URL: v[0], CAFile: v[1], CertFile: v[2], KeyFile: v[3], ContainerID: "edgegw-dial-test"})
	roundTrip(t, conn, uniqueAddr(t, "/queue/"))
	require.NoError(t, conn.Close())

	t.Run("vhost hostname", func(t *testing.T) {
		conn := dial(t, DialConfig{URL: v[0], CAFile: v[1], CertFile: v[2], KeyFile: v[3], HostName: "vhost:/"})
		roundTrip(t, conn, uniqueAddr(t, "/queue/"))
		require.NoError(t, conn.Close())
	})
	t.Run("localhost", func(t *testing.T) { // the server certificate has DNS:localhost too
		conn := dial(t, DialConfig{URL: strings.Replace(v[0], "127.0.0.1", "localhost", 1), CAFile: v[1], CertFile: v[2], KeyFile: v[3]})
		require.NoError(t, conn.Close())
	})
	t.Run("no client certificate", func(t *testing.T) {
		err := dialErr(t, DialConfig{URL: v[0], CAFile: v[1], SASL: SASLAnonymous})
		require.EqualError(t, err, "uplink "+v[0]+": tls: remote error: tls: certificate required"+
			" (the server did not accept our client certificate: check cert_file and the broker's CA)")
	})
}

func TestDialRabbitPlain(t *testing.T) {
	v := peers.Need(t, "PEERS_AMQPS_URL", "PEERS_CA", "PEERS_RABBIT_USER", "PEERS_RABBIT_PASS", "PEERS_CLIENT_CERT", "PEERS_CLIENT_KEY")
	// RabbitMQ's amqps listener verifies client certificates (fail_if_no_peer_cert), so PLAIN also
	// presents one; the SASL identity is the PLAIN user.
	cfg := DialConfig{URL: v[0], CAFile: v[1], Username: v[2], Password: v[3], CertFile: v[4], KeyFile: v[5], SASL: SASLPlain}
	conn := dial(t, cfg)
	roundTrip(t, conn, uniqueAddr(t, "/queue/"))
	require.NoError(t, conn.Close())

	t.Run("wrong password", func(t *testing.T) {
		bad := cfg
		bad.Password = "wrong-pass-7f3a"
		err := dialErr(t, bad)
		require.ErrorContains(t, err, "uplink "+v[0]+": sasl plain as \""+v[2]+"\": refused by the broker: sasl outcome 1 (auth: wrong credentials or identity not allowed)")
		require.NotContains(t, err.Error(), bad.Password)
		require.NotContains(t, err.Error(), v[3])
	})
}

func TestDialRheaWebSocket(t *testing.T) {
	v := peers.Need(t, "PEERS_WSS_URL", "PEERS_WS_URL", "PEERS_CA", "PEERS_CLIENT_CERT", "PEERS_CLIENT_KEY",
		"PEERS_RHEA_USER", "PEERS_RHEA_PASS")
	wss := DialConfig{URL: v[0], CAFile: v[2], CertFile: v[3], KeyFile: v[4], SASL: SASLPlain, Username: v[5], Password: v[6],
		WebSocketSubprotocol: "amqp"}

	t.Run("wss plain", func(t *testing.T) {
		conn := dial(t, wss)
		roundTrip(t, conn, uniqueAddr(t, ""))
		// Close must be clean: the WebSocket's "context canceled" is reported as net.ErrClosed.
		require.NoError(t, conn.Close())
		require.NoError(t, conn.Err())
		_, err := conn.NewSession(context.Background(), nil)
		var ce *amqp.ConnError
		require.ErrorAs(t, err, &ce)
		require.Equal(t, "amqp: connection closed", err.Error())
	})
	t.Run("wss outlives the dial context", func(t *testing.T) {
		ignore := goleak.IgnoreCurrent()
		ctx, cancel := context.WithCancel(context.Background())
		conn, err := Dial(ctx, wss)
		require.NoError(t, err)
		cancel() // the connection must not depend on the dial's context
		roundTrip(t, conn, uniqueAddr(t, ""))
		require.NoError(t, conn.Close())
		goleak.VerifyNone(t, ignore) // WebSocket, HTTP transport and go-amqp goroutines all ended
	})
	t.Run("wss wrong password", func(t *testing.T) {
		bad := wss
		bad.Password = "wrong-pass-9c1d"
		err := dialErr(t, bad)
		require.ErrorContains(t, err, "sasl plain as \""+v[5]+"\": refused by the broker: sasl outcome 1 (auth: ")
		require.NotContains(t, err.Error(), bad.Password)
	})
	t.Run("wss default subprotocol not selected", func(t *testing.T) {
		bad := wss
		bad.WebSocketSubprotocol = ""
		err := dialErr(t, bad)
		require.EqualError(t, err, "uplink "+v[0]+": websocket: server selected subprotocol \"\", want \"AMQPWSB10\" (see websocket_subprotocol)")
	})
	t.Run("wss rogue ca", func(t *testing.T) {
		rogue := peers.Need(t, "PEERS_ROGUE_CA")[0]
		bad := wss
		bad.CAFile = rogue
		err := dialErr(t, bad)
		require.ErrorContains(t, err, "uplink "+v[0]+": tls: server certificate rejected: x509: certificate signed by unknown authority")
	})
	t.Run("ws insecure anonymous", func(t *testing.T) {
		conn := dial(t, DialConfig{URL: v[1], InsecurePlaintext: true, WebSocketSubprotocol: "amqp"})
		roundTrip(t, conn, uniqueAddr(t, ""))
		require.NoError(t, conn.Close())
	})
	t.Run("ws without insecure_plaintext", func(t *testing.T) {
		_, err := Dial(context.Background(), DialConfig{URL: v[1], WebSocketSubprotocol: "amqp", Username: v[5], Password: v[6]})
		require.EqualError(t, err, "uplink "+v[1]+": ws:// is unencrypted and refused: use wss:// or set insecure_plaintext = true")
	})
}

// TestDialTLSRefusals: every broker that fails our TLS rules is refused with an error naming the problem.
func TestDialTLSRefusals(t *testing.T) {
	v := peers.Need(t, "PEERS_CA", "PEERS_AMQPS_ROGUE_URL", "PEERS_AMQPS_EXPIRED_URL", "PEERS_AMQPS_WRONGHOST_URL",
		"PEERS_SERVER_CERT", "PEERS_SERVER_KEY")
	ca := v[0]
	for _, tc := range []struct {
		name, url, want string
	}{
		{"unknown authority", v[1], "tls: server certificate rejected: x509: certificate signed by unknown authority"},
		{"expired", v[2], "tls: server certificate rejected: x509: certificate has expired or is not yet valid"},
		{"wrong host ip", v[3], "tls: server certificate rejected: x509: cannot validate certificate for 127.0.0.1 because it doesn't contain any IP SANs"},
		{"wrong host name", strings.Replace(v[3], "127.0.0.1", "localhost", 1),
			"tls: server certificate rejected: x509: certificate is valid for wrong-host.invalid, not localhost"},
		{"tls 1.1 only", opensslServer(t, v[4], v[5], "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"),
			"(the server offers no TLS 1.2 or 1.3; TLS 1.0 and 1.1 are refused)"},
		{"weak ciphers only", opensslServer(t, v[4], v[5], "-tls1_2", "-cipher", "AES128-SHA"),
			"(no cipher suite in common: TLS 1.2 is allowed only with the NIST SP 800-52r2 ECDHE AES-GCM suites)"},
		{"cbc ecdhe only", opensslServer(t, v[4], v[5], "-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA"),
			"no cipher suite in common"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := dialErr(t, DialConfig{URL: tc.url, CAFile: ca, SASL: SASLAnonymous})
			require.ErrorContains(t, err, "uplink "+tc.url+": tls: ")
			require.ErrorContains(t, err, tc.want)
		})
	}
	// Control: the same openssl setup with a modern suite is accepted up to TLS; it speaks no AMQP, so
	// the dial times out, and says so.
	t.Run("control", func(t *testing.T) {
		url := opensslServer(t, v[4], v[5], "-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256")
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := Dial(ctx, DialConfig{URL: url, CAFile: ca, SASL: SASLAnonymous})
		require.Error(t, err)
		t.Logf("timeout reads: %v", err)
		require.NotContains(t, err.Error(), "tls: ")
		require.ErrorContains(t, err, "uplink "+url+": amqp open: timed out: ")
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})
}

// opensslServer runs `openssl s_server` on a free 127.0.0.1 port with the given protocol and cipher
// options and returns its amqps:// URL. It is killed by PID when the test ends.
func opensslServer(t *testing.T, cert, key string, args ...string) string {
	t.Helper()
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		if peers.InCI() {
			t.Fatal("openssl not installed")
		}
		t.Skip("openssl not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(openssl, append([]string{"s_server", "-accept", addr, "-cert", cert, "-key", key, "-quiet"}, args...)...)
	stdin, err := cmd.StdinPipe() // s_server stops when its stdin closes
	require.NoError(t, err)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Kill() // by PID: only the process this test started
		cmd.Wait()
		stdin.Close()
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("openssl s_server %v did not listen on %s: %s", args, addr, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "amqps://" + addr
}

// dial connects with a deadline and closes the connection when the test ends (Close is idempotent).
func dial(t *testing.T, c DialConfig) *amqp.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := Dial(ctx, c)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

var unsafeChars = regexp.MustCompile(`[^a-zA-Z0-9-]+`)

// uniqueAddr is a fresh queue address for this test (RabbitMQ keeps queues across restarts).
func uniqueAddr(t *testing.T, prefix string) string {
	return fmt.Sprintf("%sedgegw-uplink-%s-%d", prefix, unsafeChars.ReplaceAllString(t.Name(), "-"), time.Now().UnixNano())
}

// roundTrip opens a session, attaches a receiver and a sender on addr, sends one message and
// receives it back.
func roundTrip(t *testing.T, conn *amqp.Conn, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	sess, err := conn.NewSession(ctx, nil)
	require.NoError(t, err)
	rcv, err := sess.NewReceiver(ctx, addr, &amqp.ReceiverOptions{Credit: -1})
	require.NoError(t, err)
	require.NoError(t, rcv.IssueCredit(1))
	snd, err := sess.NewSender(ctx, addr, nil)
	require.NoError(t, err)
	body := []byte(`{"schemaVersion":1,"test":"` + addr + `"}`)
	m := amqp.NewMessage(body)
	m.Properties = &amqp.MessageProperties{MessageID: addr}
	require.NoError(t, snd.Send(ctx, m, nil))
	got, err := rcv.Receive(ctx, nil)
	require.NoError(t, err)
	require.Equal(t, body, got.GetData())
	require.NoError(t, rcv.AcceptMessage(ctx, got))
	// Links are not closed one by one: RabbitMQ 3.x never completes a detach; closing the
	// connection ends them.
}
