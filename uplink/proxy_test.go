package uplink

import (
	"bufio"
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/internal/peers"
)

// connectProxy is a minimal HTTP CONNECT proxy on 127.0.0.1 that requires basic auth, tunnels only
// to loopback, and counts the tunnels it opened and the requests it refused.
type connectProxy struct {
	URL        string
	user, pass string
	tunnels    atomic.Int64
	refused    atomic.Int64

	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func startProxy(t *testing.T, user, pass string) *connectProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &connectProxy{URL: "http://" + ln.Addr().String(), user: user, pass: pass, ln: ln,
		conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *connectProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			c.Close()
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.handle(c)
		}()
	}
}

// track registers c for close; false once the proxy is closing.
func (p *connectProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *connectProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *connectProxy) handle(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	reply := func(status int, extra string) {
		p.refused.Add(1)
		io.WriteString(c, "HTTP/1.1 "+strconv.Itoa(status)+" "+http.StatusText(status)+"\r\n"+
			extra+"Content-Length: 0\r\nConnection: close\r\n\r\n")
	}
	if req.Method != http.MethodConnect {
		reply(http.StatusMethodNotAllowed, "")
		return
	}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(p.user+":"+p.pass))
	if req.Header.Get("Proxy-Authorization") != want {
		reply(http.StatusProxyAuthRequired, "Proxy-Authenticate: Basic realm=\"edgegw-test\"\r\n")
		return
	}
	host, _, err := net.SplitHostPort(req.Host)
	if err != nil || !(host == "localhost" || net.ParseIP(host).IsLoopback()) {
		reply(http.StatusForbidden, "") // network safety: the test proxy reaches loopback only
		return
	}
	up, err := net.DialTimeout("tcp", req.Host, 5*time.Second)
	if err != nil {
		reply(http.StatusBadGateway, "")
		return
	}
	if !p.track(up) {
		up.Close()
		return
	}
	defer up.Close()
	p.tunnels.Add(1)
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	done := make(chan struct{})
	go func() {
		io.Copy(up, br) // br holds anything the client sent after the request
		if tc, ok := up.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		close(done)
	}()
	io.Copy(c, up)
	c.Close()
	<-done
}

func TestDialWSSThroughProxy(t *testing.T) {
	v := peers.Need(t, "PEERS_WSS_URL", "PEERS_CA", "PEERS_CLIENT_CERT", "PEERS_CLIENT_KEY", "PEERS_RHEA_USER", "PEERS_RHEA_PASS")
	proxy := startProxy(t, "site", "proxy-secret-1")
	cfg := DialConfig{URL: v[0], CAFile: v[1], CertFile: v[2], KeyFile: v[3], SASL: SASLPlain, Username: v[4], Password: v[5],
		WebSocketSubprotocol: "amqp", Proxy: proxy.URL, ProxyUser: "site", ProxyPassword: "proxy-secret-1"}

	t.Run("tunnel", func(t *testing.T) {
		before := proxy.tunnels.Load()
		conn := dial(t, cfg)
		require.Equal(t, before+1, proxy.tunnels.Load(), "the connection must go through the proxy")
		roundTrip(t, conn, uniqueAddr(t, ""))
		require.NoError(t, conn.Close())
	})
	t.Run("ws tunnel", func(t *testing.T) {
		ws := peers.Need(t, "PEERS_WS_URL")[0]
		before := proxy.tunnels.Load()
		conn := dial(t, DialConfig{URL: ws, InsecurePlaintext: true, WebSocketSubprotocol: "amqp",
			Proxy: proxy.URL, ProxyUser: "site", ProxyPassword: "proxy-secret-1"})
		require.Equal(t, before+1, proxy.tunnels.Load(), "ws:// goes through the proxy with CONNECT too")
		roundTrip(t, conn, uniqueAddr(t, ""))
		require.NoError(t, conn.Close())
	})
	t.Run("wrong proxy password", func(t *testing.T) {
		bad := cfg
		bad.ProxyPassword = "proxy-wrong-2"
		before := proxy.tunnels.Load()
		err := dialErr(t, bad)
		require.ErrorContains(t, err, "407 Proxy Authentication Required")
		require.ErrorContains(t, err, "proxy "+proxy.URL+": CONNECT 127.0.0.1:")
		require.NotContains(t, err.Error(), "proxy-wrong-2")
		require.NotContains(t, err.Error(), v[5])
		require.Equal(t, before, proxy.tunnels.Load())
	})
}

func TestDialAMQPSThroughProxy(t *testing.T) {
	v := peers.Need(t, "PEERS_AMQPS_URL", "PEERS_CA", "PEERS_CLIENT_CERT", "PEERS_CLIENT_KEY")
	proxy := startProxy(t, "site", "proxy-secret-3")
	cfg := DialConfig{URL: v[0], CAFile: v[1], CertFile: v[2], KeyFile: v[3],
		Proxy: proxy.URL, ProxyUser: "site", ProxyPassword: "proxy-secret-3"}

	t.Run("tunnel", func(t *testing.T) {
		before := proxy.tunnels.Load()
		conn := dial(t, cfg)
		require.Equal(t, before+1, proxy.tunnels.Load(), "the connection must go through the proxy")
		roundTrip(t, conn, uniqueAddr(t, "/queue/"))
		require.NoError(t, conn.Close())
	})
	t.Run("wrong proxy password", func(t *testing.T) {
		bad := cfg
		bad.ProxyPassword = "proxy-wrong-4"
		err := dialErr(t, bad)
		require.EqualError(t, err, "uplink "+v[0]+": proxy "+proxy.URL+": CONNECT "+strings.TrimPrefix(v[0], "amqps://")+
			": 407 Proxy Authentication Required (check the proxy user and password)")
		var pe *ProxyError
		require.ErrorAs(t, err, &pe)
		require.Equal(t, http.StatusProxyAuthRequired, pe.StatusCode)
	})
	t.Run("proxy down", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		ln.Close()
		bad := cfg
		bad.Proxy = "http://" + addr
		err = dialErr(t, bad)
		require.ErrorContains(t, err, "proxy http://"+addr+": CONNECT")
		require.ErrorContains(t, err, "connection refused")
	})
}

// dialErr dials a configuration that must fail and returns the error.
func dialErr(t *testing.T, c DialConfig) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := Dial(ctx, c)
	if err == nil {
		conn.Close()
		t.Fatalf("Dial %s succeeded, want an error", c.URL)
	}
	t.Logf("refusal reads: %v", err)
	return err
}
