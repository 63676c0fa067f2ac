package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/config"
	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/gateway/store"
	"github.com/edgegw/edgegw/uplink/protocol"
)

// fixture is a Server on a real in-memory gateway with a few devices, and a cloud switch that records.
type fixture struct {
	t     *testing.T
	s     *Server
	gw    *gateway.Gateway
	dir   string
	mu    sync.Mutex
	cloud bool
	up    protocol.Uplink
}

func sighting(i int, kind, serial string) gateway.Sighting {
	return gateway.Sighting{Protocol: "snmp", Address: fmt.Sprintf("127.0.0.1:%d", 16100+i),
		Identity: gateway.Identity{MAC: fmt.Sprintf("02:00:00:00:00:%02x", i+1), Serial: serial,
			Manufacturer: "ACME", Model: fmt.Sprintf("DP%d", 50+i), Kind: kind, IP: fmt.Sprintf("127.0.10.%d", i+1)},
		Profile: "acme-display"}
}

func newFixture(t *testing.T, mod ...func(*Options)) *fixture {
	f := &fixture{t: t, dir: t.TempDir(), cloud: true, up: protocol.Uplink{State: "connected", Since: time.Now()}}
	db, err := store.Open(filepath.Join(f.dir, "state"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	gw, err := gateway.New(gateway.Options{Store: db})
	require.NoError(t, err)
	f.gw = gw
	for i, k := range []string{"display", "projector", "ups"} {
		gw.Observe(sighting(i, k, fmt.Sprintf("SN-%d", i)))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- gw.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	require.Eventually(t, gw.Running, 5*time.Second, 5*time.Millisecond)
	opts := Options{
		Gateway: gw,
		Health: func() protocol.Health {
			f.mu.Lock()
			defer f.mu.Unlock()
			return protocol.Health{GatewayID: "gw-test", Version: "test", CloudEnabled: f.cloud, Uplink: f.up}
		},
		SetCloud: func(on bool) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.cloud = on
			if !on {
				f.up = protocol.Uplink{State: "disabled", Since: time.Now()}
			}
			return nil
		},
		StateDir: f.dir,
		Config:   config.Admin{Listen: "127.0.0.1:0", DegradedAfter: time.Minute},
		Version:  "test",
	}
	for _, m := range mod {
		m(&opts)
	}
	f.s, err = New(opts)
	require.NoError(t, err)
	return f
}

// do sends a request to the TCP side (trusted=false) or the socket side, from addr.
func (f *fixture) do(trusted bool, remote, method, target string, body io.Reader, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, body)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	f.s.handler(trusted).ServeHTTP(w, r)
	return w
}

const local = "127.0.0.1:40000"

// api is a TCP request with the token, from loopback.
func (f *fixture) api(method, target string, body any) *httptest.ResponseRecorder {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	return f.do(false, local, method, target, rd, "Authorization", "Bearer "+f.s.Token())
}

func decode[T any](t *testing.T, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &v), w.Body.String())
	return v
}

func TestToken(t *testing.T) {
	dir := t.TempDir()
	_, err := LoadToken(dir, false)
	require.ErrorContains(t, err, "the daemon makes it on its first start")
	tok, err := LoadToken(dir, true)
	require.NoError(t, err)
	require.Len(t, tok, 64)
	fi, err := os.Stat(filepath.Join(dir, TokenName))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	again, err := LoadToken(dir, false)
	require.NoError(t, err)
	require.Equal(t, tok, again, "the same token across restarts")
	require.NoError(t, os.Chmod(filepath.Join(dir, TokenName), 0o644))
	_, err = LoadToken(dir, true)
	require.NoError(t, err)
	fi, _ = os.Stat(filepath.Join(dir, TokenName))
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "made private again")
	require.NoError(t, os.WriteFile(filepath.Join(dir, TokenName), []byte("short\n"), 0o600))
	_, err = LoadToken(dir, true)
	require.ErrorContains(t, err, "is not a token")
}

// TestAPIRefusals: every way a request is refused, with the status and message a user sees.
func TestAPIRefusals(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.MaxCSVBytes = 1 << 10 })
	remote := "192.0.2.7:5555" // another host (no traffic: only the request's field)
	for _, tc := range []struct {
		name           string
		trusted        bool
		remote, method string
		target, body   string
		hdr            []string
		code           int
		want           string
	}{
		{"no token", false, local, "GET", "/api/status", "", nil, 401, "needs the token"},
		{"wrong token", false, local, "GET", "/api/devices", "", []string{"Authorization", "Bearer nope-" + strings.Repeat("x", 60)}, 401, "wrong token"},
		{"token in another scheme", false, local, "GET", "/api/devices", "", []string{"Authorization", "Basic " + f.s.Token()}, 401, "wrong token"},
		{"no token for a change", false, local, "POST", "/api/cloud", `{"enabled":false}`, nil, 401, "needs the token"},
		{"metrics from another host", false, remote, "GET", "/metrics", "", nil, 401, "needs the admin token"},
		{"readyz from another host", false, remote, "GET", "/readyz", "", nil, 401, "needs the admin token"},
		{"page without a session", false, local, "POST", "/claims", "mac=02:00:00:00:00:01&serial=x", []string{"Content-Type", "application/x-www-form-urlencoded"}, 401, "log in first"},
		{"no such device", true, "@", "GET", "/api/devices/mac-0200000000ff", "", nil, 404, `no device "mac-0200000000ff"`},
		{"no such API path", true, "@", "GET", "/api/nothing", "", nil, 404, "no such API path"},
		{"unknown device filter", true, "@", "GET", "/api/devices?colour=red", "", nil, 400, `unknown parameter "colour"`},
		{"bad claim state", true, "@", "GET", "/api/devices?claimState=owned", "", nil, 400, `claimState "owned" is not one of`},
		{"bad sort", true, "@", "GET", "/api/devices?sort=price", "", nil, 400, `sort "price" is not one of`},
		{"limit too big", true, "@", "GET", "/api/devices?limit=5000", "", nil, 400, "limit must be from 1 to 1000"},
		{"bad offset", true, "@", "GET", "/api/devices?offset=-1", "", nil, 400, "not a number from 0 up"},
		{"bad claim body", true, "@", "POST", "/api/claims", `{"mac":"02:00:00:00:00:01","serial":"x","colour":1}`, nil, 400, `unknown field "colour"`},
		{"bad MAC", true, "@", "POST", "/api/claims", `{"mac":"zz","serial":"x"}`, nil, 400, `mac "zz" is not a MAC address`},
		{"claim body too big", true, "@", "POST", "/api/claims", `{"mac":"` + strings.Repeat("a", 70<<10) + `"}`, nil, 413, "larger than 64 KiB"},
		{"unclaim of nothing", true, "@", "DELETE", "/api/claims/02:00:00:00:00:09", "", nil, 404, "no claim for 02:00:00:00:00:09"},
		{"oversized CSV", true, "@", "POST", "/api/claims/import", strings.Repeat("02:00:00:00:00:01,SN-0\n", 100), nil, 413, "larger than 1 KiB, the limit"},
		{"cloud body", true, "@", "POST", "/api/cloud", `{}`, nil, 400, `{"enabled": true}`},
		{"bad audit since", true, "@", "GET", "/api/audit?since=yesterday", "", nil, 400, "not an RFC 3339 time"},
		{"unknown page", false, local, "GET", "/nothing", "", []string{"Authorization", "Bearer " + f.s.Token()}, 303, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			w := f.do(tc.trusted, tc.remote, tc.method, tc.target, body, tc.hdr...)
			require.Equal(t, tc.code, w.Code, w.Body.String())
			msg := w.Body.String()
			if strings.HasPrefix(tc.target, "/api/") {
				require.Equal(t, "application/json", w.Header().Get("Content-Type"))
				msg = decode[apiError](t, w).Error
			}
			require.Contains(t, msg, tc.want)
			require.NotContains(t, w.Body.String(), f.s.Token(), "the token is never echoed")
		})
	}
	// Nothing was changed by a refused request.
	require.Empty(t, f.gw.Claims())
	require.True(t, f.cloud)
}

func TestAPI(t *testing.T) {
	f := newFixture(t)
	st := decode[Status](t, f.api("GET", "/api/status", nil))
	require.Equal(t, "gw-test", st.GatewayID)
	require.Equal(t, Healthy, st.HealthState)
	require.True(t, st.Ready)
	require.Equal(t, 3, st.Inventory.Devices)
	require.Equal(t, 3, st.Inventory.ByClaimState["unclaimed"])
	require.Equal(t, 3, st.Inventory.ByProtocol["snmp"])
	require.Equal(t, 1, st.Inventory.ByKind["ups"])

	list := decode[DeviceList](t, f.api("GET", "/api/devices", nil))
	require.Equal(t, 3, list.Total)
	require.Len(t, list.Devices, 3)
	require.Equal(t, "mac-020000000001", list.Devices[0].DeviceID)
	require.Equal(t, "unclaimed", list.Devices[0].ClaimState)
	list = decode[DeviceList](t, f.api("GET", "/api/devices?kind=ups", nil))
	require.Equal(t, 1, list.Total)
	require.Equal(t, "ups", list.Devices[0].Kind)
	list = decode[DeviceList](t, f.api("GET", "/api/devices?q=dp51", nil))
	require.Equal(t, "mac-020000000002", list.Devices[0].DeviceID, "text in any case")
	list = decode[DeviceList](t, f.api("GET", "/api/devices?sort=model&order=desc&limit=1&offset=1", nil))
	require.Equal(t, 3, list.Total)
	require.Len(t, list.Devices, 1)
	require.Equal(t, "DP51", list.Devices[0].Model)
	list = decode[DeviceList](t, f.api("GET", "/api/devices?protocol=modbus", nil))
	require.Zero(t, list.Total)
	require.NotNil(t, list.Devices, "[] not null")

	// Claim one, then it is in the list, the device's view and the audit log.
	c := decode[gateway.Claim](t, f.api("POST", "/api/claims", ClaimRequest{MAC: "02-00-00-00-00-01", Serial: "SN-0", Group: "Lobby"}))
	require.Equal(t, gateway.ClaimClaimed, c.State)
	require.Equal(t, "mac-020000000001", c.DeviceID)
	w := f.api("POST", "/api/claims", ClaimRequest{MAC: "02:00:00:00:00:02", Serial: "WRONG"})
	require.Equal(t, 200, w.Code)
	require.Equal(t, gateway.ClaimRejected, decode[gateway.Claim](t, w).State)
	cs := decode[[]gateway.Claim](t, f.api("GET", "/api/claims", nil))
	require.Len(t, cs, 2)
	require.Contains(t, f.api("GET", "/api/claims", nil).Body.String(), `"deviceId": "mac-020000000001"`)
	list = decode[DeviceList](t, f.api("GET", "/api/devices?claimState=claimed", nil))
	require.Equal(t, 1, list.Total)
	require.Equal(t, "Lobby", list.Devices[0].Group)
	d := decode[DeviceDetail](t, f.api("GET", "/api/devices/mac-020000000001", nil))
	require.Equal(t, "SN-0", d.Twin.Identity.Serial)
	require.NotEmpty(t, d.Audit)
	require.Equal(t, "claimed", d.Audit[0].Action)
	require.Equal(t, "api", d.Audit[0].By)
	audit := decode[[]gateway.AuditEntry](t, f.api("GET", "/api/audit?device=mac-020000000002&limit=5", nil))
	require.Equal(t, "claim rejected", audit[len(audit)-1].Action)

	// A CSV: one good row, one bad, one for a device not seen yet, a duplicate.
	csv := "MAC,Serial\n02:00:00:00:00:03,SN-2\nnot-a-mac,x\n02:00:00:00:00:42,SN-42\n02:00:00:00:00:03,SN-2\n"
	res := decode[ImportResult](t, f.api("POST", "/api/claims/import", csv))
	require.Equal(t, ImportCounts{Rows: 3, Claimed: 1, Pending: 1, Bad: 1, Duplicates: 1}, res.Counts)
	require.Equal(t, 3, res.RowErrors[0].Line)
	require.Contains(t, res.RowErrors[0].Reason, "is not a MAC address")
	// The same streamed (what edgegw claim import uses): JSON lines, progress first, the result last,
	// each line one JSON value.
	w = f.api("POST", "/api/claims/import?progress=1", "MAC,Serial\n02:00:00:00:00:03,SN-2\n02:00:00:00:00:43,SN-43\n")
	require.Equal(t, 200, w.Code)
	streamed := strings.Split(strings.TrimSpace(w.Body.String()), "\n")
	require.GreaterOrEqual(t, len(streamed), 2, w.Body.String())
	var first, last ImportLine
	require.NoError(t, json.Unmarshal([]byte(streamed[0]), &first))
	require.Equal(t, &ImportProgress{Done: 0, Total: 2}, first.Progress)
	require.NoError(t, json.Unmarshal([]byte(streamed[len(streamed)-1]), &last))
	require.NotNil(t, last.Result)
	require.Equal(t, ImportCounts{Rows: 2, Pending: 1, Unchanged: 1}, last.Result.Counts)

	// Unclaim by MAC and by device id.
	require.Equal(t, 200, f.api("DELETE", "/api/claims/02:00:00:00:00:03", nil).Code)
	require.Equal(t, 200, f.api("DELETE", "/api/claims?mac=mac-020000000001", nil).Code)
	require.Equal(t, 404, f.api("DELETE", "/api/claims/mac-020000000001", nil).Code)

	// The cloud switch.
	h := decode[protocol.Health](t, f.api("POST", "/api/cloud", CloudRequest{Enabled: new(false)}))
	require.False(t, h.CloudEnabled)
	require.Equal(t, "disabled", decode[protocol.Health](t, f.api("GET", "/api/cloud", nil)).Uplink.State)
	require.Equal(t, Healthy, decode[Status](t, f.api("GET", "/api/status", nil)).HealthState, "switched off is not degraded")

	// Monitoring from loopback needs no token.
	w = f.do(false, local, "GET", "/healthz", nil)
	require.Equal(t, 200, w.Code)
	require.Equal(t, "ok\n", w.Body.String())
	w = f.do(false, "[::1]:999", "GET", "/readyz", nil)
	require.Equal(t, 200, w.Code, w.Body.String())
	require.True(t, decode[Readiness](t, w).Ready)
	require.Equal(t, 404, f.do(false, local, "GET", "/metrics", nil).Code, "no metrics handler in this fixture")
	// From another host with the token.
	require.Equal(t, 200, f.do(false, "192.0.2.7:1", "GET", "/healthz", nil, "Authorization", "Bearer "+f.s.Token()).Code)
}

func TestStatusDegraded(t *testing.T) {
	var storeErr error
	f := newFixture(t, func(o *Options) { o.StoreError = func() error { return storeErr } })
	f.mu.Lock()
	f.up = protocol.Uplink{State: "connecting", Since: time.Now().Add(-2 * time.Minute), LastError: "dial tcp 127.0.0.1:1: connection refused"}
	f.mu.Unlock()
	st := f.s.Status()
	require.Equal(t, Degraded, st.HealthState)
	require.Len(t, st.Problems, 1)
	require.Contains(t, st.Problems[0], "the cloud uplink has been down for 2m0s: dial tcp 127.0.0.1:1: connection refused")

	f.mu.Lock()
	f.up.Since = time.Now().Add(-30 * time.Second) // under degraded_after (1m)
	f.mu.Unlock()
	require.Equal(t, Healthy, f.s.Status().HealthState)

	storeErr = fmt.Errorf("write state.db: no space left on device")
	st = f.s.Status()
	require.Equal(t, Degraded, st.HealthState)
	require.Contains(t, st.Problems[0], "the state store cannot be written: write state.db: no space left on device")

	// Not ready: the store does not answer.
	storeErr = nil
	f.s.opts.CheckStore = func() error { return fmt.Errorf("database not open") }
	w := f.do(false, local, "GET", "/readyz", nil)
	require.Equal(t, 503, w.Code)
	require.Contains(t, w.Body.String(), "the state store does not answer: database not open")
	require.Contains(t, w.Body.String(), `"uplink": "connecting"`)
}

// TestSocketAndTCP runs the server for real: the socket needs no token, TCP does, and a second server
// on the same state_dir is refused.
func TestSocketAndTCP(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.s.Run(ctx) }()
	require.Eventually(t, func() bool { return f.s.Addr() != "" }, 5*time.Second, 10*time.Millisecond)

	sock := filepath.Join(f.dir, SocketName)
	fi, err := os.Stat(sock)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	unix := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	resp, err := unix.Get("http://edgegw/api/status")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)

	resp, err = http.Get("http://" + f.s.Addr() + "/api/status")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 401, resp.StatusCode)
	require.Equal(t, contentSecurityPolicy, resp.Header.Get("Content-Security-Policy"))
	st := f.s.Status()
	require.Equal(t, f.s.Addr(), st.Admin.Address)

	other, err := New(f.s.opts)
	require.NoError(t, err)
	require.ErrorContains(t, other.Run(context.Background()), "is another edgegw running on this state_dir?")

	cancel()
	require.NoError(t, <-done)
	_, err = os.Stat(sock)
	require.ErrorIs(t, err, os.ErrNotExist, "the socket is removed on the way out")
}

// stallingCore holds a bulk claim until its context ends, then lets the gateway do it: with that
// context ended, the gateway does none of the rows.
type stallingCore struct {
	*gateway.Gateway
	started chan struct{}
}

func (c stallingCore) ClaimManyProgress(ctx context.Context, rows []gateway.ClaimRow, by string, progress func(done, total int)) []gateway.ClaimResult {
	close(c.started)
	select {
	case <-ctx.Done():
	case <-time.After(time.Minute): // not cut short: the rows get claimed, and the test fails on the counts
	}
	return c.Gateway.ClaimManyProgress(ctx, rows, by, progress)
}

// TestImportCutShortAtShutdown: an import under way when the daemon stops ends at once, answering the
// rows it did not do (docs/claims.md), instead of holding the shutdown until it is done.
func TestImportCutShortAtShutdown(t *testing.T) {
	started := make(chan struct{})
	f := newFixture(t, func(o *Options) {
		o.Gateway = stallingCore{Gateway: o.Gateway.(*gateway.Gateway), started: started}
		o.Config.Listen = ""
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f.s.Run(ctx) }()
	sock := filepath.Join(f.dir, SocketName)
	unix := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	require.Eventually(t, func() bool { _, err := os.Stat(sock); return err == nil }, 5*time.Second, 10*time.Millisecond)

	type answer struct {
		body string
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		resp, err := unix.Post("http://edgegw/api/claims/import?progress=1", "text/csv",
			strings.NewReader("MAC,Serial\n02:00:00:00:00:01,SN-0\n02:00:00:00:00:02,SN-1\n"))
		if err != nil {
			got <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- answer{string(b), err}
	}()
	<-started
	cancel()
	a := <-got
	require.NoError(t, a.err)
	streamed := strings.Split(strings.TrimSpace(a.body), "\n")
	var last ImportLine
	require.NoError(t, json.Unmarshal([]byte(streamed[len(streamed)-1]), &last), a.body)
	require.NotNil(t, last.Result, a.body)
	require.Equal(t, ImportCounts{Rows: 2, NotDone: 2}, last.Result.Counts)
	require.NoError(t, <-done)
	require.Empty(t, f.gw.Claims(), "nothing claimed")
}

// TestBusyPort: a taken TCP address does not stop the gateway; it is in the status, and retried.
func TestBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	f := newFixture(t, func(o *Options) { o.Config.Listen = ln.Addr().String() })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.s.Run(ctx) }()
	require.Eventually(t, func() bool { return f.s.Status().Admin.Error != "" }, 5*time.Second, 10*time.Millisecond)
	st := f.s.Status()
	require.Equal(t, Degraded, st.HealthState)
	require.Contains(t, st.Problems[0], "the admin page does not listen on "+ln.Addr().String())
	cancel()
	require.NoError(t, <-done)
}

// browser is an HTTP client with a cookie jar against the TCP side, as a browser would use the page.
type browser struct {
	t      *testing.T
	c      *http.Client
	base   string
	origin string
}

func newBrowser(t *testing.T, f *fixture) *browser {
	srv := httptest.NewServer(f.s.handler(false))
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: srv.URL, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

func (b *browser) get(path string) (int, string, http.Header) {
	resp, err := b.c.Get(b.base + path)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

func (b *browser) post(path string, form url.Values) (int, string, http.Header) {
	resp, err := b.c.PostForm(b.base+path, form)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

func csrfOf(t *testing.T, page string) string {
	m := csrfRE.FindStringSubmatch(page)
	require.NotNil(t, m, "no CSRF token in the page")
	return m[1]
}

// TestPageFlow: login (with and without its CSRF token, with a wrong token), the pages, a claim, the
// cloud switch with its confirmation, a form without its CSRF token, logout.
func TestPageFlow(t *testing.T) {
	f := newFixture(t)
	b := newBrowser(t, f)
	code, _, hdr := b.get("/devices?kind=ups")
	require.Equal(t, http.StatusSeeOther, code)
	require.Equal(t, "/login?next=%2Fdevices%3Fkind%3Dups", hdr.Get("Location"))

	code, page, hdr := b.get("/login?next=/devices")
	require.Equal(t, 200, code)
	require.Contains(t, page, `<label for="token">Admin token</label>`)
	require.Contains(t, hdr.Get("Set-Cookie"), "HttpOnly")
	require.Contains(t, hdr.Get("Set-Cookie"), "SameSite=Strict")
	loginCSRF := csrfOf(t, page)

	code, page, _ = b.post("/login", url.Values{"token": {f.s.Token()}, "next": {"/devices"}})
	require.Equal(t, 403, code, "a login without its CSRF token")
	require.Contains(t, page, "CSRF token is missing or wrong")
	loginCSRF = csrfOf(t, page)
	code, page, _ = b.post("/login", url.Values{"token": {"wrong"}, "csrf": {loginCSRF}})
	require.Equal(t, 401, code)
	require.Contains(t, page, "Wrong token")
	loginCSRF = csrfOf(t, page)
	code, _, hdr = b.post("/login", url.Values{"token": {f.s.Token()}, "csrf": {loginCSRF}, "next": {"//evil.example/"}})
	require.Equal(t, http.StatusSeeOther, code)
	require.Equal(t, "/", hdr.Get("Location"), "never redirected off the site")
	require.Contains(t, hdr.Get("Set-Cookie"), sessionCookie+"=")

	code, page, hdr = b.get("/")
	require.Equal(t, 200, code)
	require.Contains(t, page, `<span id="health">healthy</span>`)
	require.Contains(t, page, "3 found")
	require.Equal(t, contentSecurityPolicy, hdr.Get("Content-Security-Policy"))
	require.NotContains(t, page, "<script", "no script on the page")
	csrf := csrfOf(t, page)

	code, page, _ = b.get("/devices?sort=kind&order=desc")
	require.Equal(t, 200, code)
	require.Contains(t, page, "1–3 of 3 devices")
	require.Contains(t, page, `aria-sort="descending"`)
	require.Regexp(t, `(?s)mac-020000000003.*mac-020000000002.*mac-020000000001`, page, "ups, projector, display")
	code, page, _ = b.get("/devices?claimState=nope")
	require.Equal(t, 400, code)
	require.Contains(t, page, "claimState &#34;nope&#34; is not one of")

	code, page, _ = b.get("/devices/mac-020000000002")
	require.Equal(t, 200, code)
	require.Contains(t, page, `<dd id="mac">02:00:00:00:00:02</dd>`)
	code, _, _ = b.get("/devices/mac-0200000000ff")
	require.Equal(t, 404, code)

	// A form without its CSRF token changes nothing.
	code, page, _ = b.post("/devices/mac-020000000002/claim", url.Values{"serial": {"SN-1"}})
	require.Equal(t, 403, code)
	require.Contains(t, page, "CSRF token is missing or wrong")
	require.Empty(t, f.gw.Claims())
	code, page, _ = b.post("/devices/mac-020000000002/claim", url.Values{"serial": {"SN-1"}, "csrf": {csrf}})
	require.Equal(t, 200, code)
	require.Contains(t, page, "02:00:00:00:00:02: claimed")
	require.Equal(t, "web", f.gw.Claims()[0].By)

	// A cross-site POST is refused even with the token (the browser says where it comes from).
	req, _ := http.NewRequest("POST", b.base+"/claims", strings.NewReader(url.Values{"mac": {"02:00:00:00:00:03"}, "serial": {"SN-2"}, "csrf": {csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := b.c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 403, resp.StatusCode)
	require.Len(t, f.gw.Claims(), 1)

	// Upload a CSV with the page's form.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("csrf", csrf)
	fw, _ := mw.CreateFormFile("file", "claims.csv")
	io.WriteString(fw, "02:00:00:00:00:03,SN-2\nbad,row\n")
	mw.Close()
	resp, err = b.c.Post(b.base+"/claims/import", mw.FormDataContentType(), &body)
	require.NoError(t, err)
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, string(out))
	require.Contains(t, string(out), "2 rows: 1 claimed, 0 pending, 0 rejected, 0 unchanged, 1 bad, 0 duplicates.")
	require.Contains(t, string(out), "is not a MAC address")

	// The API reads with the session, but changes need the token.
	code, _, _ = b.get("/api/devices")
	require.Equal(t, 200, code)
	code, _, _ = b.post("/api/cloud", url.Values{"enabled": {"false"}, "csrf": {csrf}})
	require.Equal(t, 401, code)

	// The cloud switch, confirmed.
	code, page, _ = b.get("/settings")
	require.Equal(t, 200, code)
	require.Contains(t, page, `href="/settings/cloud?enabled=false"`)
	code, page, _ = b.get("/settings/cloud?enabled=false")
	require.Equal(t, 200, code)
	require.Contains(t, page, "Yes, turn it off")
	require.True(t, f.cloud, "asking is not doing")
	code, _, hdr = b.post("/settings/cloud", url.Values{"enabled": {"false"}, "csrf": {csrf}})
	require.Equal(t, http.StatusSeeOther, code)
	require.False(t, f.cloud)
	_, page, _ = b.get("/settings")
	require.Contains(t, page, `<strong id="uplink-state" class="state-disabled">disabled</strong>`)

	// Logout ends the session.
	code, _, _ = b.post("/logout", url.Values{"csrf": {csrf}})
	require.Equal(t, http.StatusSeeOther, code)
	code, _, _ = b.get("/")
	require.Equal(t, http.StatusSeeOther, code)
	code, _, _ = b.get("/static/style.css")
	require.Equal(t, 200, code, "assets need no session")
}

// TestPageOversizedUpload: an upload over the limit is refused before it is read whole.
func TestPageOversizedUpload(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.MaxCSVBytes = 1 << 10 })
	b := newBrowser(t, f)
	_, page, _ := b.get("/login")
	b.post("/login", url.Values{"token": {f.s.Token()}, "csrf": {csrfOf(t, page)}})
	_, page, _ = b.get("/claims")
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("csrf", csrfOf(t, page))
	fw, _ := mw.CreateFormFile("file", "claims.csv")
	io.WriteString(fw, strings.Repeat("02:00:00:00:00:03,SN-2\n", 5000))
	mw.Close()
	resp, err := b.c.Post(b.base+"/claims/import", mw.FormDataContentType(), &body)
	require.NoError(t, err)
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 413, resp.StatusCode)
	require.Contains(t, string(out), "larger than 1 KiB, the limit")
	require.Empty(t, f.gw.Claims())
}

func TestSessions(t *testing.T) {
	now := time.Now()
	ss := newSessions(func() time.Time { return now })
	s := ss.create()
	require.Same(t, s, ss.get(s.id))
	now = now.Add(sessionLifetime)
	require.Nil(t, ss.get(s.id), "expired")
	for range maxSessions + 10 {
		ss.create()
	}
	require.LessOrEqual(t, len(ss.m), maxSessions)
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{"/devices?x=1": "/devices?x=1", "//evil.example": "/", "https://evil.example": "/",
		"/\\evil.example": "/", "": "/", "devices": "/"} {
		require.Equal(t, want, safeNext(in), in)
	}
}
