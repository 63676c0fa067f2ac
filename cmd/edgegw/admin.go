package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgegw/edgegw/gateway"
)

// The daemon's local admin API: HTTP on a unix socket in state_dir, 0600, so only the gateway's own
// user (and root) can use it. The CLI verbs that change a running daemon (cloud enable/disable, later
// claims) talk to it; they never open the state file, which the daemon holds locked.

const adminSocket = "admin.sock"

// adminAPI is what the socket exposes.
type adminAPI interface {
	Status() any
	SetCloud(on bool) error
	Gateway() *gateway.Gateway
}

// claimRequest is the body of POST /claims.
type claimRequest struct {
	MAC    string `json:"mac"`
	Serial string `json:"serial"`
	Group  string `json:"group,omitempty"`
}

// importResult is the answer to POST /claims/import: one result per usable row, one error per bad row.
type importResult struct {
	Results    []gateway.ClaimResult   `json:"results"`
	RowErrors  []gateway.ClaimRowError `json:"rowErrors,omitempty"`
	Duplicates int                     `json:"duplicates,omitempty"`
}

// listenAdmin listens on state_dir/admin.sock at once (so a second daemon on the same state_dir is
// refused before anything starts) and returns the part that serves it until its context ends.
func listenAdmin(stateDir string, api adminAPI) (func(ctx context.Context) error, error) {
	path := filepath.Join(stateDir, adminSocket)
	if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		c.Close()
		return nil, fmt.Errorf("admin socket %s answers: is another edgegw running on this state_dir?", path)
	}
	os.Remove(path) // a stale socket from a killed daemon
	old := umask(0o177)
	ln, err := net.Listen("unix", path)
	umask(old)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) { writeJSONResponse(w, api.Status()) })
	cloud := func(on bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if err := api.SetCloud(on); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			writeJSONResponse(w, api.Status())
		}
	}
	mux.HandleFunc("GET /claims", func(w http.ResponseWriter, r *http.Request) { writeJSONResponse(w, api.Gateway().Claims()) })
	mux.HandleFunc("POST /claims", func(w http.ResponseWriter, r *http.Request) {
		var req claimRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
			http.Error(w, "bad claim request: "+err.Error(), http.StatusBadRequest)
			return
		}
		c, err := api.Gateway().Claim(r.Context(), req.MAC, req.Serial, req.Group, "cli")
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSONResponse(w, c)
	})
	mux.HandleFunc("POST /claims/import", func(w http.ResponseWriter, r *http.Request) {
		csv, err := gateway.ParseClaimsCSV(io.LimitReader(r.Body, 64<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		res := importResult{RowErrors: csv.Errors, Duplicates: csv.Duplicates}
		res.Results = api.Gateway().ClaimMany(r.Context(), csv.Rows, "csv")
		writeJSONResponse(w, res)
	})
	mux.HandleFunc("DELETE /claims/{mac}", func(w http.ResponseWriter, r *http.Request) {
		c, err := api.Gateway().Unclaim(r.PathValue("mac"), "cli")
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		writeJSONResponse(w, c)
	})
	mux.HandleFunc("GET /audit", func(w http.ResponseWriter, r *http.Request) {
		var since time.Time
		if s := r.URL.Query().Get("since"); s != "" {
			var err error
			if since, err = time.Parse(time.RFC3339, s); err != nil {
				http.Error(w, "since: "+err.Error(), http.StatusBadRequest)
				return
			}
		}
		es, err := api.Gateway().AuditLog(r.URL.Query().Get("device"), since)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSONResponse(w, es)
	})
	mux.HandleFunc("POST /cloud/enable", cloud(true))
	mux.HandleFunc("POST /cloud/disable", cloud(false))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return func(ctx context.Context) error {
		defer os.Remove(path)
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()
		select {
		case err := <-served:
			return fmt.Errorf("admin socket %s: %w", path, err)
		case <-ctx.Done():
		}
		// Requests in flight (a claim import) get a moment to finish; new ones are refused.
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		return nil
	}, nil
}

func writeJSONResponse(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// adminCall sends one request to the daemon's admin socket.
func adminCall(stateDir, method, path string) ([]byte, error) {
	return adminRequest(stateDir, method, path, nil)
}

// adminRequest is adminCall with a body.
func adminRequest(stateDir, method, path string, body io.Reader) ([]byte, error) {
	sock := filepath.Join(stateDir, adminSocket)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
	req, err := http.NewRequest(method, "http://edgegw"+path, body)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the daemon at %s (is edgegw run going with this state_dir?): %w", sock, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		body := out
		return nil, fmt.Errorf("daemon: %s", strings.TrimSpace(string(body)))
	}
	return out, nil
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
	case "enable":
		body, err = adminCall(cfg.Gateway.StateDir, http.MethodPost, "/cloud/enable")
	case "disable":
		body, err = adminCall(cfg.Gateway.StateDir, http.MethodPost, "/cloud/disable")
	case "status":
		body, err = adminCall(cfg.Gateway.StateDir, http.MethodGet, "/status")
	default:
		return usagef("edgegw cloud: unknown command %q (%s)", verb, usage)
	}
	if err != nil {
		return err
	}
	_, err = stdout.Write(body)
	return err
}
