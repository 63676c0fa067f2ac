package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgegw/edgegw/admin"
)

// The CLI verbs that talk to a running daemon do so over its admin socket (state_dir/admin.sock, 0600):
// the same API as the page's, without a token (package admin). They never open the state file, which
// the daemon holds locked.

// errNotRunning is a daemon that does not answer on its socket (errors.Is).
var errNotRunning = errors.New("not running")

// unreachable is the error of a request the socket did not take.
type unreachable struct{ error }

func (unreachable) Is(target error) bool { return target == errNotRunning }

// adminDo sends req (to http://edgegw/...) to the daemon's admin socket in stateDir and returns a 2xx
// answer, whose body the caller reads and closes; any other answer is an error with the API's message.
// timeout bounds the whole exchange, body included, and headerTimeout the wait for the answer; zero:
// no bound.
func adminDo(stateDir string, timeout, headerTimeout time.Duration, req *http.Request) (*http.Response, error) {
	sock := filepath.Join(stateDir, admin.SocketName)
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
		ResponseHeaderTimeout: headerTimeout,
	}}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the daemon at %s (is edgegw run going with this state_dir?): %w", sock, unreachable{err})
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("daemon: %s: %w", resp.Status, err)
	}
	var e struct{ Error string }
	if json.Unmarshal(out, &e) == nil && e.Error != "" {
		return nil, fmt.Errorf("daemon: %s", e.Error)
	}
	return nil, fmt.Errorf("daemon: %s", strings.TrimSpace(string(out)))
}

// adminCall sends one request to the daemon's admin socket and returns the body of a 2xx answer; any
// other answer is an error with the API's message. The whole exchange may take 15 minutes.
func adminCall(stateDir, method, path string, body io.Reader) ([]byte, error) {
	req, err := http.NewRequest(method, "http://edgegw"+path, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := adminDo(stateDir, 15*time.Minute, 0, req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, 256<<20))
}

// adminJSON is adminCall with a JSON body.
func adminJSON(stateDir, method, path string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return adminCall(stateDir, method, path, bytes.NewReader(b))
}

// cmdCloud: edgegw cloud enable|disable|status --config FILE.
func cmdCloud(args []string, stdout, stderr io.Writer) error {
	const usage = "edgegw cloud enable|disable|status --config FILE"
	if len(args) == 0 {
		return usagef("usage: %s", usage)
	}
	if isHelp(args[0]) {
		fmt.Fprintf(stdout, "Usage: %s\n\n  enable   connect to the cloud (and stay connected across restarts)\n  disable  close the cloud connection within a second and keep it closed across restarts;\n           discovery and polling go on, messages wait in the outbox\n  status   the daemon's health, uplink state included\n", usage)
		return nil
	}
	verb := args[0]
	fs := newFlags("cloud "+verb, usage, stdout)
	cfgPath := fs.String("config", "", "configuration file of the running daemon (required)")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	cfg, err := protocols().loadConfig(*cfgPath, stderr)
	if err != nil {
		return err
	}
	var body []byte
	switch verb {
	case "enable", "disable":
		body, err = adminJSON(cfg.Gateway.StateDir, http.MethodPost, "/api/cloud", admin.CloudRequest{Enabled: ptr(verb == "enable")})
	case "status":
		body, err = adminCall(cfg.Gateway.StateDir, http.MethodGet, "/api/cloud", nil)
	default:
		return usagef("edgegw cloud: unknown command %q (%s)", verb, usage)
	}
	if err != nil {
		return err
	}
	_, err = stdout.Write(body)
	return err
}

func ptr[T any](v T) *T { return &v }

const adminUsage = `Usage:
  edgegw admin token --config FILE   print the admin token (state_dir/admin.token)

The token opens the admin page and API on [admin] listen (default http://127.0.0.1:8080/): paste it
into the page's login, or send it as "Authorization: Bearer TOKEN". The daemon makes it, 0600, on its
first start; to replace it, delete the file and restart the daemon. docs/operate.md has the details.
`

// cmdAdmin: edgegw admin token --config FILE.
func cmdAdmin(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("%s", strings.TrimRight(adminUsage, "\n"))
	}
	if isHelp(args[0]) {
		fmt.Fprint(stdout, adminUsage)
		return nil
	}
	if args[0] != "token" {
		return usagef("edgegw admin: unknown command %q\n\n%s", args[0], strings.TrimRight(adminUsage, "\n"))
	}
	fs := newFlags("admin token", "edgegw admin token --config FILE", stdout)
	cfgPath := fs.String("config", "", "configuration file of the daemon (required)")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	cfg, err := protocols().loadConfig(*cfgPath, stderr)
	if err != nil {
		return err
	}
	tok, err := admin.LoadToken(cfg.Gateway.StateDir, false)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
