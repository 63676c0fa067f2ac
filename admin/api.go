package admin

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/edgegw/edgegw/admin/claimcsv"
	"github.com/edgegw/edgegw/gateway"
)

// routes are every path of the admin side; handler puts the checks of a listener in front.
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	// The API.
	mux.HandleFunc("GET /api/status", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Status()) })
	mux.HandleFunc("GET /api/devices", s.apiDevices)
	mux.HandleFunc("GET /api/devices/{id}", s.apiDevice)
	mux.HandleFunc("GET /api/claims", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, nonNil(s.opts.Gateway.Claims()))
	})
	mux.HandleFunc("POST /api/claims", s.apiClaim)
	mux.HandleFunc("DELETE /api/claims", s.apiUnclaim)
	mux.HandleFunc("DELETE /api/claims/{mac}", s.apiUnclaim)
	mux.HandleFunc("POST /api/claims/import", s.apiImport)
	mux.HandleFunc("GET /api/cloud", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.opts.Health()) })
	mux.HandleFunc("POST /api/cloud", s.apiCloud)
	mux.HandleFunc("GET /api/audit", s.apiAudit)
	mux.HandleFunc("GET /api/events", s.apiEvents)
	mux.HandleFunc("GET /api/events/stats", func(w http.ResponseWriter, r *http.Request) {
		stats := []gateway.ListenerStats{}
		if s.opts.Listeners != nil {
			stats = s.opts.Listeners()
		}
		writeJSON(w, http.StatusOK, stats)
	})
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		s.refuse(w, r, http.StatusNotFound, "no such API path: "+excerpt(r.URL.Path))
	})
	// Monitoring.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		if s.opts.Metrics == nil {
			http.NotFound(w, r)
			return
		}
		s.opts.Metrics.ServeHTTP(w, r)
	})
	s.pageRoutes(mux)
	return mux
}

// apiError is the body of every refused API request.
type apiError struct {
	Error string `json:"error"`
}

// refuse answers a refused request: JSON under /api/, text for monitoring, a page otherwise.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, code int, msg string) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/api/"):
		writeJSON(w, code, apiError{msg})
	case r.URL.Path == "/metrics" || r.URL.Path == "/healthz" || r.URL.Path == "/readyz":
		http.Error(w, msg, code)
	default:
		s.errorPage(w, r, code, msg)
	}
}

// errStatus is the HTTP status of an operation's error: 507 Insufficient Storage when the state store
// could not take it (nothing is in effect), def otherwise.
func errStatus(err error, def int) int {
	if errors.Is(err, gateway.ErrNotStored) {
		return http.StatusInsufficientStorage
	}
	return def
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// excerpt shortens what a client sent for an error message.
func excerpt(s string) string {
	const most = 64
	if len(s) <= most {
		return s
	}
	cut := most
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// by names who made a change, for the audit log: the CLI (socket), the API (token) or the page.
func by(r *http.Request) string {
	switch a := accessOf(r); {
	case a.trusted:
		return "cli"
	case a.session != nil:
		return "web"
	}
	return "api"
}

// Claim states and connectivity states a filter may name.
var (
	claimStates        = []string{gateway.ClaimUnclaimed, gateway.ClaimPending, gateway.ClaimClaimed, gateway.ClaimRejected, gateway.ClaimMismatch}
	connectivityStates = []string{gateway.StateUnknown, gateway.StateOnline, gateway.StateOffline}
)

// Page sizes of the device list.
const (
	defaultLimit = 100
	maxLimit     = 1000
	pageSize     = 50 // the page's
)

// deviceQuery reads a device query from URL parameters: claimState, connectivity, protocol, kind, q,
// failing, sort, order and, with paged, page (of pageSize) instead of offset and limit. An unknown
// parameter or value is an error, so that a typo does not silently show every device.
func deviceQuery(v url.Values, paged bool) (gateway.DeviceQuery, error) {
	q := gateway.DeviceQuery{Limit: defaultLimit}
	if paged {
		q.Limit = pageSize
	}
	for k, vals := range v {
		val := strings.TrimSpace(vals[len(vals)-1])
		if utf8.RuneCountInString(val) > 128 {
			return q, fmt.Errorf("%s is longer than 128 characters", k)
		}
		var err error
		switch k {
		case "claimState":
			if val != "" && !slices.Contains(claimStates, val) {
				err = fmt.Errorf("claimState %q is not one of %s", excerpt(val), strings.Join(claimStates, ", "))
			}
			q.ClaimState = val
		case "connectivity":
			if val != "" && !slices.Contains(connectivityStates, val) {
				err = fmt.Errorf("connectivity %q is not one of %s", excerpt(val), strings.Join(connectivityStates, ", "))
			}
			q.Connectivity = val
		case "protocol":
			q.Protocol = val
		case "kind":
			q.Kind = val
		case "q":
			q.Text = val
		case "failing":
			q.Failing, err = strconv.ParseBool(orFalse(val))
		case "sort":
			if val != "" && !slices.Contains(gateway.SortKeys, val) {
				err = fmt.Errorf("sort %q is not one of %s", excerpt(val), strings.Join(gateway.SortKeys, ", "))
			}
			q.Sort = val
		case "order":
			switch val {
			case "", "asc":
			case "desc":
				q.Desc = true
			default:
				err = fmt.Errorf("order %q is not asc or desc", excerpt(val))
			}
		case "offset", "limit", "page":
			if k == "page" && !paged || k != "page" && paged {
				err = fmt.Errorf("unknown parameter %q", excerpt(k))
				break
			}
			n, perr := strconv.Atoi(orZero(val))
			switch {
			case perr != nil || n < 0:
				err = fmt.Errorf("%s %q is not a number from 0 up", k, excerpt(val))
			case k == "offset":
				q.Offset = n
			case k == "limit" && (n < 1 || n > maxLimit):
				err = fmt.Errorf("limit must be from 1 to %d", maxLimit)
			case k == "limit":
				q.Limit = n
			default: // page, from 1
				q.Offset = max(n-1, 0) * pageSize
			}
		default:
			err = fmt.Errorf("unknown parameter %q (claimState, connectivity, protocol, kind, q, failing, sort, order, %s)",
				excerpt(k), map[bool]string{true: "page", false: "offset, limit"}[paged])
		}
		if err != nil {
			return q, err
		}
	}
	return q, nil
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

func orFalse(s string) string {
	if s == "" {
		return "false"
	}
	return s
}

// DeviceRow is one device in GET /api/devices: what a list shows, not the whole twin.
type DeviceRow struct {
	DeviceID     string    `json:"deviceId"`
	MAC          string    `json:"mac,omitempty"`
	Serial       string    `json:"serial,omitempty"`
	Manufacturer string    `json:"manufacturer,omitempty"`
	Model        string    `json:"model,omitempty"`
	Kind         string    `json:"kind"`
	Hostname     string    `json:"hostname,omitempty"`
	IP           string    `json:"ip,omitempty"`
	Profile      string    `json:"profile,omitempty"`
	Protocols    []string  `json:"protocols"`
	ClaimState   string    `json:"claimState"`
	Group        string    `json:"group,omitempty"`
	Connectivity string    `json:"connectivity"`
	LastError    string    `json:"lastError,omitempty"`
	LastSeen     time.Time `json:"lastSeen"`
}

func rowOf(t *gateway.Twin) DeviceRow {
	id := t.Identity
	kind := id.Kind
	if kind == "" {
		kind = "other"
	}
	return DeviceRow{DeviceID: t.DeviceID, MAC: id.MAC, Serial: id.Serial, Manufacturer: id.Manufacturer, Model: id.Model,
		Kind: kind, Hostname: id.Hostname, IP: id.IP, Profile: t.Profile, Protocols: nonNil(id.Protocols),
		ClaimState: t.Claim.State, Group: t.Claim.Group, Connectivity: t.Connectivity.State,
		LastError: t.Connectivity.LastError, LastSeen: t.LastSeen}
}

// DeviceList is the answer to GET /api/devices: one page, and how many devices match in all.
type DeviceList struct {
	Total   int         `json:"total"`
	Offset  int         `json:"offset"`
	Limit   int         `json:"limit"`
	Devices []DeviceRow `json:"devices"`
}

// queryDevices runs the device query of a request (paged: the page's parameters), answering a bad
// one with 400 itself.
func (s *Server) queryDevices(w http.ResponseWriter, r *http.Request, paged bool) (gateway.DeviceQuery, gateway.DevicePage, bool) {
	q, err := deviceQuery(r.URL.Query(), paged)
	var page gateway.DevicePage
	if err == nil {
		page, err = s.opts.Gateway.QueryDevices(q)
	}
	if err != nil {
		s.refuse(w, r, http.StatusBadRequest, err.Error())
		return q, page, false
	}
	return q, page, true
}

func (s *Server) apiDevices(w http.ResponseWriter, r *http.Request) {
	q, page, ok := s.queryDevices(w, r, false)
	if !ok {
		return
	}
	out := DeviceList{Total: page.Total, Offset: q.Offset, Limit: q.Limit, Devices: make([]DeviceRow, 0, len(page.Devices))}
	for i := range page.Devices {
		out.Devices = append(out.Devices, rowOf(&page.Devices[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

// DeviceDetail is the answer to GET /api/devices/{id}: the twin, the units of its reported values (from
// its profile) and its most recent audit entries, newest first.
type DeviceDetail struct {
	Twin  gateway.Twin         `json:"twin"`
	Units map[string]string    `json:"units,omitempty"`
	Audit []gateway.AuditEntry `json:"audit"`
}

// recentAudit is how many audit entries a device's view shows.
const recentAudit = 50

// device gathers a device's view; ok is false when there is no such device.
func (s *Server) device(id string) (DeviceDetail, bool, error) {
	t, ok := s.opts.Gateway.Twin(id)
	if !ok {
		return DeviceDetail{}, false, nil
	}
	d := DeviceDetail{Twin: t, Units: s.units(&t), Audit: []gateway.AuditEntry{}}
	es, err := s.opts.Gateway.AuditLog(id, time.Time{})
	if err != nil {
		return d, true, err
	}
	for i := len(es) - 1; i >= 0 && len(d.Audit) < recentAudit; i-- {
		d.Audit = append(d.Audit, es[i])
	}
	return d, true, nil
}

// units maps each reported value of the twin to its unit, from the device's profile.
func (s *Server) units(t *gateway.Twin) map[string]string {
	if s.opts.Profiles == nil {
		return nil
	}
	var profiles []*gateway.Profile
	for _, name := range append([]string{t.Profile}, endpointProfiles(t)...) {
		if p := s.opts.Profiles.Get(name); name != "" && p != nil {
			profiles = append(profiles, p)
		}
	}
	out := map[string]string{}
	for name := range t.Reported.Values {
		base, _, _ := strings.Cut(name, "[") // a table row: "inputVoltage[2]"
		for _, p := range profiles {
			if pt := p.Point(base); pt != nil && pt.Unit != "" {
				out[name] = pt.Unit
				break
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func endpointProfiles(t *gateway.Twin) []string {
	var out []string
	for _, e := range t.Endpoints {
		out = append(out, e.Profile)
	}
	return out
}

func (s *Server) apiDevice(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d, ok, err := s.device(id)
	switch {
	case !ok:
		s.refuse(w, r, http.StatusNotFound, fmt.Sprintf("no device %q", excerpt(id)))
	case err != nil:
		s.refuse(w, r, http.StatusInternalServerError, "read the audit log: "+err.Error())
	default:
		writeJSON(w, http.StatusOK, d)
	}
}

// ClaimRequest is the body of POST /api/claims.
type ClaimRequest struct {
	MAC    string `json:"mac"`
	Serial string `json:"serial"`
	Group  string `json:"group,omitempty"`
}

// maxJSONBody bounds the JSON bodies of the API (a claim, the cloud switch).
const maxJSONBody = 64 << 10

// readJSON decodes a small JSON body strictly (unknown fields refused), answering the refusal itself.
func (s *Server) readJSON(w http.ResponseWriter, r *http.Request, dst any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.refuse(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %s", byteSize(maxJSONBody)))
		} else {
			s.refuse(w, r, http.StatusBadRequest, "the body is not the JSON expected: "+excerpt(err.Error()))
		}
		return false
	}
	return true
}

func (s *Server) apiClaim(w http.ResponseWriter, r *http.Request) {
	var req ClaimRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	c, err := s.opts.Gateway.Claim(r.Context(), req.MAC, req.Serial, req.Group, by(r))
	if err != nil {
		s.refuse(w, r, errStatus(err, http.StatusBadRequest), err.Error())
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) apiUnclaim(w http.ResponseWriter, r *http.Request) {
	mac := r.PathValue("mac")
	if mac == "" {
		mac = r.URL.Query().Get("mac")
	}
	if mac == "" {
		s.refuse(w, r, http.StatusBadRequest, "which claim? DELETE /api/claims/{mac or device id}")
		return
	}
	c, err := s.opts.Gateway.Unclaim(mac, by(r))
	switch {
	case errors.Is(err, gateway.ErrNoClaim):
		s.refuse(w, r, http.StatusNotFound, err.Error())
	case err != nil:
		s.refuse(w, r, errStatus(err, http.StatusInternalServerError), err.Error())
	default:
		writeJSON(w, http.StatusOK, c)
	}
}

// ImportResult is the answer to POST /api/claims/import: the result of every usable row, why each bad
// row could not be used, and the totals.
type ImportResult struct {
	Results    []gateway.ClaimResult `json:"results"`
	RowErrors  []claimcsv.RowError   `json:"rowErrors,omitempty"`
	Duplicates int                   `json:"duplicates,omitempty"`
	Counts     ImportCounts          `json:"counts"`
}

// ImportCounts are the totals of an import.
type ImportCounts struct {
	Rows       int `json:"rows"`
	Claimed    int `json:"claimed"`
	Pending    int `json:"pending"`
	Rejected   int `json:"rejected"`
	Unchanged  int `json:"unchanged"`
	Bad        int `json:"bad"`
	Duplicates int `json:"duplicates"`
	// NotDone are rows the import did not get to (cut short: the client went away, the daemon
	// stopped); nothing of them was recorded, the same import again does them.
	NotDone int `json:"notDone,omitempty"`
}

// importCSV parses a claims file and claims its rows. code is the HTTP status of a refusal (nothing
// claimed then). progress, when not nil, hears how far the claiming got.
func (s *Server) importCSV(r *http.Request, body io.Reader, progress func(done, total int)) (res ImportResult, code int, err error) {
	f, err := claimcsv.Parse(body)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return res, http.StatusRequestEntityTooLarge, fmt.Errorf("the claims file is larger than %s, the limit; split it", byteSize(s.opts.MaxCSVBytes))
	case errors.Is(err, claimcsv.ErrTooManyRows):
		return res, http.StatusRequestEntityTooLarge, fmt.Errorf("%v; nothing was claimed: split the file", err)
	case err != nil:
		return res, http.StatusBadRequest, fmt.Errorf("%v; nothing was claimed", err)
	}
	res = ImportResult{RowErrors: f.Errors, Duplicates: f.Duplicates}
	if progress != nil {
		progress(0, len(f.Rows))
	}
	res.Results = nonNil(s.opts.Gateway.ClaimManyProgress(r.Context(), f.Rows, "csv", progress))
	c := &res.Counts
	for _, x := range res.Results {
		switch {
		case x.NotDone:
			c.NotDone++
		case x.Error != "":
			c.Bad++
		case x.Unchanged:
			c.Unchanged++
		case x.Claim.State == gateway.ClaimClaimed:
			c.Claimed++
		case x.Claim.State == gateway.ClaimPending:
			c.Pending++
		default:
			c.Rejected++
		}
	}
	c.Bad += len(f.Errors)
	c.Duplicates = f.Duplicates
	c.Rows = len(res.Results) + len(f.Errors)
	return res, http.StatusOK, nil
}

func (s *Server) apiImport(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("progress") == "1" {
		s.apiImportStream(w, r)
		return
	}
	res, code, err := s.importCSV(r, http.MaxBytesReader(w, r.Body, s.opts.MaxCSVBytes), nil)
	if err != nil {
		s.refuse(w, r, code, err.Error())
		return
	}
	writeImportResult(w, res)
}

// writeImportResult writes an import's answer a row at a time: 100,000 rows encoded in one piece made a
// buffer of tens of MiB that stayed in the daemon's heap (pooled by encoding/json) long after the import.
func writeImportResult(w http.ResponseWriter, res ImportResult) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	encodeImportResult(bw, res)
	bw.WriteByte('\n')
}

// encodeImportResult writes res as one JSON object on one line (a streamed import's last line holds
// it), a row at a time.
func encodeImportResult(bw *bufio.Writer, res ImportResult) {
	list := func(name string, n int, item func(i int) any) {
		fmt.Fprintf(bw, "%q:[", name)
		for i := range n {
			if i > 0 {
				bw.WriteByte(',')
			}
			b, _ := json.Marshal(item(i))
			bw.Write(b)
		}
		bw.WriteString("],")
	}
	bw.WriteByte('{')
	list("results", len(res.Results), func(i int) any { return res.Results[i] })
	list("rowErrors", len(res.RowErrors), func(i int) any { return res.RowErrors[i] })
	counts, _ := json.Marshal(res.Counts)
	fmt.Fprintf(bw, "\"duplicates\":%d,\"counts\":%s}", res.Duplicates, counts)
}

// CloudRequest is the body of POST /api/cloud.
type CloudRequest struct {
	Enabled *bool `json:"enabled"`
}

// errNoCloud is the answer to switching a cloud the configuration does not have.
var errNoCloud = errors.New("the uplink is off in the configuration (cloud.enabled = false); set it there")

func (s *Server) setCloud(on bool) error {
	if s.opts.SetCloud == nil {
		return errNoCloud
	}
	return s.opts.SetCloud(on)
}

func (s *Server) apiCloud(w http.ResponseWriter, r *http.Request) {
	var req CloudRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	if req.Enabled == nil {
		s.refuse(w, r, http.StatusBadRequest, `say {"enabled": true} or {"enabled": false}`)
		return
	}
	if err := s.setCloud(*req.Enabled); err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, errNoCloud) {
			code = http.StatusConflict
		}
		s.refuse(w, r, code, err.Error())
		return
	}
	s.log.Info("cloud switched", "enabled", *req.Enabled, "by", by(r))
	writeJSON(w, http.StatusOK, s.opts.Health())
}

func (s *Server) apiAudit(w http.ResponseWriter, r *http.Request) {
	device, since, limit, ok := s.logQuery(w, r)
	if !ok {
		return
	}
	es, err := s.opts.Gateway.AuditLog(device, since)
	if err != nil {
		s.refuse(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	if limit > 0 && len(es) > limit {
		es = es[len(es)-limit:] // the newest
	}
	writeJSON(w, http.StatusOK, nonNil(es))
}

// apiEvents answers GET /api/events?device=D&since=T&limit=N: what devices reported on their own
// (traps), oldest first, the newest limit (default 1000).
func (s *Server) apiEvents(w http.ResponseWriter, r *http.Request) {
	device, since, limit, ok := s.logQuery(w, r)
	if !ok {
		return
	}
	if limit == 0 {
		limit = defaultEventsLimit
	}
	es, err := s.opts.Gateway.Events(device, since, limit)
	if err != nil {
		s.refuse(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, nonNil(es))
}

// defaultEventsLimit is how many events /api/events answers without a limit.
const defaultEventsLimit = 1000

// logQuery reads the parameters of a log's query (audit, events): device, since, limit; it refuses
// the request (ok false) on a bad or unknown one.
func (s *Server) logQuery(w http.ResponseWriter, r *http.Request) (device string, since time.Time, limit int, ok bool) {
	q := r.URL.Query()
	for k, vals := range q {
		v := vals[len(vals)-1]
		var err error
		switch k {
		case "device":
			device = v
		case "since":
			if since, err = time.Parse(time.RFC3339, v); err != nil {
				err = fmt.Errorf("since %q is not an RFC 3339 time like 2026-11-01T00:00:00Z", excerpt(v))
			}
		case "limit":
			if limit, err = strconv.Atoi(v); err != nil || limit < 1 {
				err = fmt.Errorf("limit %q is not a number from 1 up", excerpt(v))
			}
		default:
			err = fmt.Errorf("unknown parameter %q (device, since, limit)", excerpt(k))
		}
		if err != nil {
			s.refuse(w, r, http.StatusBadRequest, err.Error())
			return "", time.Time{}, 0, false
		}
	}
	return device, since, limit, true
}

// Readiness is the answer to /readyz.
type Readiness struct {
	Ready    bool     `json:"ready"`
	Problems []string `json:"problems,omitempty"`
	// Uplink is the cloud connection's state, reported and not required.
	Uplink string `json:"uplink"`
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ok, why := s.ready()
	code := http.StatusOK
	if !ok {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, Readiness{Ready: ok, Problems: why, Uplink: s.opts.Health().Uplink.State})
}
