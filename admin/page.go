package admin

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgegw/edgegw/gateway"
)

// The page: server-rendered html/template, its stylesheet embedded, no script, no CDN, so it works
// offline and under a strict Content-Security-Policy. Every state-changing form is a POST carrying the
// session's CSRF token (checked in authorize).

//go:embed templates/*.html static/*
var assets embed.FS

// pageNames are the templates that are whole pages; each is parsed with layout.html.
var pageNames = []string{"overview", "login", "devices", "device", "claims", "settings", "confirm", "error"}

func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"when":     when,
		"ago":      ago,
		"join":     strings.Join,
		"dash":     dash,
		"value":    func(v gateway.Value) string { return v.String() },
		"sorted":   func(m map[string]int) []string { return slices.Sorted(maps.Keys(m)) },
		"inc":      func(n int) int { return n + 1 },
		"thousand": thousands,
		"bytes":    humanBytes,
	}
	out := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("admin page %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// view is what every page gets: its own data plus the layout's.
type view struct {
	Title     string
	Nav       string // which menu entry is current
	GatewayID string
	Version   string
	CSRF      string
	LoggedIn  bool
	Message   string // the outcome of the form just sent
	Error     string
	Data      any
}

// render writes a page; a template failure is a 500 with nothing half-written.
func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, name string, v view) {
	a := accessOf(r)
	v.CSRF, v.LoggedIn, v.Version = a.csrfToken(), a.session != nil, s.opts.Version
	if v.GatewayID == "" {
		v.GatewayID = s.opts.Health().GatewayID
	}
	var b bytes.Buffer
	if err := s.pages[name].Execute(&b, v); err != nil {
		s.log.Error("admin page failed", "page", name, "err", err)
		http.Error(w, "the page failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	w.Write(b.Bytes())
}

func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, code int, msg string) {
	s.render(w, r, code, "error", view{Title: http.StatusText(code), Error: msg, GatewayID: "edgegw"})
}

func (s *Server) pageRoutes(mux *http.ServeMux) {
	static, _ := fs.Sub(assets, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", s.overview)
	mux.HandleFunc("GET /login", s.loginForm)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.logout)
	mux.HandleFunc("GET /devices", s.devicesPage)
	mux.HandleFunc("GET /devices/{id}", s.devicePage)
	mux.HandleFunc("POST /devices/{id}/claim", s.deviceClaim)
	mux.HandleFunc("GET /claims", func(w http.ResponseWriter, r *http.Request) { s.claimsPage(w, r, http.StatusOK, claimsView{}) })
	mux.HandleFunc("POST /claims", s.claimOne)
	mux.HandleFunc("POST /claims/import", s.claimImport)
	mux.HandleFunc("POST /claims/remove", s.claimRemove)
	mux.HandleFunc("GET /settings", s.settingsPage)
	mux.HandleFunc("GET /settings/cloud", s.cloudConfirm)
	mux.HandleFunc("POST /settings/cloud", s.cloudSwitch)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.refuse(w, r, http.StatusNotFound, "there is no page "+excerpt(r.URL.Path))
	})
}

// ---- overview ------------------------------------------------------------------------------------

type overviewView struct {
	Status
	Failing []DeviceRow
	Up      string // uptime
}

func (s *Server) overview(w http.ResponseWriter, r *http.Request) {
	st := s.Status()
	v := overviewView{Status: st, Up: roundDuration(time.Duration(st.UptimeSeconds) * time.Second)}
	if page, err := s.opts.Gateway.QueryDevices(gateway.DeviceQuery{DeviceFilter: gateway.DeviceFilter{Failing: true}, Limit: 5}); err == nil {
		for i := range page.Devices {
			v.Failing = append(v.Failing, rowOf(&page.Devices[i]))
		}
	}
	s.render(w, r, http.StatusOK, "overview", view{Title: "Overview", Nav: "overview", GatewayID: st.GatewayID, Data: v})
}

// ---- login ---------------------------------------------------------------------------------------

type loginView struct {
	Next      string
	LoginCSRF string
}

// safeNext keeps a post-login redirect on this site: a local path, never //host or a scheme.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n") {
		return "/"
	}
	return next
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	if accessOf(r).session != nil || accessOf(r).trusted {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	s.showLogin(w, r, http.StatusOK, "")
}

// showLogin renders the login form with a fresh login CSRF token (a cookie and the same value in the
// form: another site can set neither).
func (s *Server) showLogin(w http.ResponseWriter, r *http.Request, code int, msg string) {
	tok := randomHex(16)
	s.setCookie(w, loginCookie, tok, 600)
	s.render(w, r, code, "login", view{Title: "Log in", Error: msg, GatewayID: "edgegw",
		Data: loginView{Next: safeNext(r.FormValue("next")), LoginCSRF: tok}})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	c, err := r.Cookie(loginCookie)
	if err != nil || !sameSecret(r.PostFormValue("csrf"), c.Value) {
		s.log.Warn("admin login without its CSRF token refused", "remote", r.RemoteAddr)
		s.showLogin(w, r, http.StatusForbidden, "The form's CSRF token is missing or wrong. Log in again from this page.")
		return
	}
	if !sameSecret(strings.TrimSpace(r.PostFormValue("token")), s.token) {
		s.log.Warn("admin login with a wrong token", "remote", r.RemoteAddr)
		s.showLogin(w, r, http.StatusUnauthorized, "Wrong token. `edgegw admin token --config FILE` prints it on the gateway's host.")
		return
	}
	sess := s.sessions.create()
	s.setCookie(w, sessionCookie, sess.id, int(sessionLifetime.Seconds()))
	s.setCookie(w, loginCookie, "", -1)
	s.log.Info("admin login", "remote", r.RemoteAddr)
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if sess := accessOf(r).session; sess != nil {
		s.sessions.remove(sess.id)
	}
	s.setCookie(w, sessionCookie, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// ---- devices -------------------------------------------------------------------------------------

type devicesView struct {
	Query     gateway.DeviceQuery
	Order     string
	Rows      []DeviceRow
	Total     int
	From, To  int
	Page      int
	Prev      string // URLs of the previous and next pages, "" at the ends
	Next      string
	Protocols []string
	Kinds     []string
	Claims    []string
	Conns     []string
	Columns   []column
}

type column struct {
	Label, Sort string
	URL         string
	Current     string // "ascending", "descending" or ""
}

func (s *Server) devicesPage(w http.ResponseWriter, r *http.Request) {
	q, page, ok := s.queryDevices(w, r, true)
	if !ok {
		return
	}
	sum := s.opts.Gateway.Summary()
	v := devicesView{Query: q, Total: page.Total, Page: q.Offset/pageSize + 1, Claims: claimStates, Conns: connectivityStates,
		Protocols: slices.Sorted(maps.Keys(sum.ByProtocol)), Kinds: slices.Sorted(maps.Keys(sum.ByKind))}
	if q.Desc {
		v.Order = "desc"
	}
	for i := range page.Devices {
		v.Rows = append(v.Rows, rowOf(&page.Devices[i]))
	}
	if len(v.Rows) > 0 {
		v.From, v.To = q.Offset+1, q.Offset+len(v.Rows)
	}
	link := func(change func(url.Values)) string {
		u := r.URL.Query()
		change(u)
		return "/devices?" + u.Encode()
	}
	if v.Page > 1 {
		v.Prev = link(func(u url.Values) { u.Set("page", strconv.Itoa(v.Page-1)) })
	}
	if q.Offset+pageSize < page.Total {
		v.Next = link(func(u url.Values) { u.Set("page", strconv.Itoa(v.Page+1)) })
	}
	cur := q.Sort
	if cur == "" {
		cur = gateway.SortID
	}
	for _, c := range []column{{Label: "Device", Sort: gateway.SortID}, {Label: "Manufacturer", Sort: gateway.SortManufacturer},
		{Label: "Model", Sort: gateway.SortModel}, {Label: "Kind", Sort: gateway.SortKind}, {Label: "IP address", Sort: gateway.SortIP},
		{Label: "Claim", Sort: gateway.SortClaimState}, {Label: "Connectivity", Sort: gateway.SortConnectivity},
		{Label: "Last seen", Sort: gateway.SortLastSeen}} {
		order := "asc"
		if c.Sort == cur {
			c.Current = "ascending"
			if q.Desc {
				c.Current = "descending"
			} else {
				order = "desc"
			}
		}
		c.URL = link(func(u url.Values) { u.Set("sort", c.Sort); u.Set("order", order); u.Del("page") })
		v.Columns = append(v.Columns, c)
	}
	s.render(w, r, http.StatusOK, "devices", view{Title: "Devices", Nav: "devices", Data: v})
}

type deviceView struct {
	DeviceDetail
	Reported     []property
	Desired      []desiredRow
	Connectivity []gateway.AuditEntry // its online/offline history, newest first
	Claim        *gateway.Claim
}

type property struct{ Name, Value, Unit string }

type desiredRow struct {
	Name, Value, Status, Reported, Reason string
}

func (s *Server) devicePage(w http.ResponseWriter, r *http.Request) {
	s.showDevice(w, r, http.StatusOK, "", "")
}

func (s *Server) showDevice(w http.ResponseWriter, r *http.Request, code int, msg, errMsg string) {
	id := r.PathValue("id")
	d, ok, err := s.device(id)
	if !ok {
		s.refuse(w, r, http.StatusNotFound, fmt.Sprintf("There is no device %q.", excerpt(id)))
		return
	}
	if err != nil {
		errMsg = strings.TrimSpace(errMsg + " The audit log could not be read: " + err.Error())
	}
	v := deviceView{DeviceDetail: d}
	for _, k := range slices.Sorted(maps.Keys(d.Twin.Reported.Values)) {
		v.Reported = append(v.Reported, property{Name: k, Value: d.Twin.Reported.Values[k].String(), Unit: d.Units[k]})
	}
	for _, k := range slices.Sorted(maps.Keys(d.Twin.Desired.Values)) {
		row := desiredRow{Name: k, Value: d.Twin.Desired.Values[k].String(), Status: "waiting"}
		if st, ok := d.Twin.DesiredStatus.Properties[k]; ok {
			row.Status, row.Reason = st.Status, st.Reason
			if st.Value != nil {
				row.Reported = st.Value.String()
			}
		}
		v.Desired = append(v.Desired, row)
	}
	for _, e := range d.Audit {
		if e.Action == "connectivity" {
			v.Connectivity = append(v.Connectivity, e)
		}
	}
	for _, c := range s.opts.Gateway.Claims() {
		if c.MAC == d.Twin.Identity.MAC || (c.DeviceID != "" && c.DeviceID == d.Twin.DeviceID) {
			v.Claim = &c
			break
		}
	}
	s.render(w, r, code, "device", view{Title: d.Twin.DeviceID, Nav: "devices", Message: msg, Error: errMsg, Data: v})
}

func (s *Server) deviceClaim(w http.ResponseWriter, r *http.Request) {
	t, ok := s.opts.Gateway.Twin(r.PathValue("id"))
	if !ok {
		s.refuse(w, r, http.StatusNotFound, fmt.Sprintf("There is no device %q.", excerpt(r.PathValue("id"))))
		return
	}
	if t.Identity.MAC == "" {
		s.showDevice(w, r, http.StatusBadRequest, "", "This device has no MAC address, so it cannot be claimed by MAC and serial.")
		return
	}
	c, err := s.opts.Gateway.Claim(r.Context(), t.Identity.MAC, r.PostFormValue("serial"), r.PostFormValue("group"), by(r))
	if err != nil {
		s.showDevice(w, r, http.StatusBadRequest, "", "Not claimed: "+err.Error())
		return
	}
	s.showDevice(w, r, http.StatusOK, claimMessage(c), "")
}

func claimMessage(c gateway.Claim) string {
	msg := fmt.Sprintf("%s: %s", c.MAC, c.State)
	if c.Reason != "" {
		msg += " (" + c.Reason + ")"
	}
	return msg
}

// ---- claims --------------------------------------------------------------------------------------

type claimsView struct {
	Claims []gateway.Claim
	Import *ImportResult
	Rows   []importRow
}

// importRow is one line of an import's results, in file order.
type importRow struct {
	Line               int
	MAC, State, Detail string
	OK                 bool
}

func (s *Server) claimsPage(w http.ResponseWriter, r *http.Request, code int, v claimsView, msgs ...string) {
	v.Claims = s.opts.Gateway.Claims()
	if v.Import != nil {
		for _, x := range v.Import.Results {
			row := importRow{Line: x.Line, MAC: x.Claim.MAC, State: x.Claim.State, Detail: x.Claim.Reason, OK: x.Claim.State == gateway.ClaimClaimed}
			switch {
			case x.Error != "":
				row.State, row.Detail, row.OK = "error", x.Error, false
			case x.Unchanged:
				row.State, row.OK = "unchanged", true
			}
			v.Rows = append(v.Rows, row)
		}
		for _, e := range v.Import.RowErrors {
			v.Rows = append(v.Rows, importRow{Line: e.Line, State: "bad row", Detail: e.Reason})
		}
		slices.SortFunc(v.Rows, func(a, b importRow) int { return a.Line - b.Line })
	}
	pv := view{Title: "Claims", Nav: "claims", Data: v}
	if len(msgs) > 0 {
		pv.Message = msgs[0]
	}
	if len(msgs) > 1 {
		pv.Error = msgs[1]
	}
	s.render(w, r, code, "claims", pv)
}

func (s *Server) claimOne(w http.ResponseWriter, r *http.Request) {
	c, err := s.opts.Gateway.Claim(r.Context(), r.PostFormValue("mac"), r.PostFormValue("serial"), r.PostFormValue("group"), by(r))
	if err != nil {
		s.claimsPage(w, r, http.StatusBadRequest, claimsView{}, "", "Not claimed: "+err.Error())
		return
	}
	s.claimsPage(w, r, http.StatusOK, claimsView{}, claimMessage(c))
}

func (s *Server) claimImport(w http.ResponseWriter, r *http.Request) {
	if accessOf(r).trusted && !s.parseForm(w, r) { // over TCP, authorize has parsed it
		return
	}
	f, _, err := r.FormFile("file")
	if err != nil {
		s.claimsPage(w, r, http.StatusBadRequest, claimsView{}, "", "Choose a CSV file of MAC,Serial[,Group] rows to upload.")
		return
	}
	defer f.Close()
	res, code, err := s.importCSV(r, f, nil)
	if err != nil {
		s.claimsPage(w, r, code, claimsView{}, "", err.Error())
		return
	}
	c := res.Counts
	s.claimsPage(w, r, http.StatusOK, claimsView{Import: &res}, fmt.Sprintf(
		"%d rows: %d claimed, %d pending, %d rejected, %d unchanged, %d bad, %d duplicates.",
		c.Rows, c.Claimed, c.Pending, c.Rejected, c.Unchanged, c.Bad, c.Duplicates))
}

func (s *Server) claimRemove(w http.ResponseWriter, r *http.Request) {
	c, err := s.opts.Gateway.Unclaim(r.PostFormValue("mac"), by(r))
	if err != nil {
		s.claimsPage(w, r, http.StatusNotFound, claimsView{}, "", err.Error())
		return
	}
	s.claimsPage(w, r, http.StatusOK, claimsView{}, c.MAC+": unclaimed.")
}

// ---- settings ------------------------------------------------------------------------------------

func (s *Server) settingsPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "settings", view{Title: "Settings", Nav: "settings", Data: s.Status()})
}

type confirmView struct {
	Enable bool
	Status
}

func (s *Server) cloudConfirm(w http.ResponseWriter, r *http.Request) {
	on, err := strconv.ParseBool(r.URL.Query().Get("enabled"))
	if err != nil {
		s.refuse(w, r, http.StatusBadRequest, "enabled must be true or false")
		return
	}
	s.render(w, r, http.StatusOK, "confirm", view{Title: "Confirm", Nav: "settings", Data: confirmView{Enable: on, Status: s.Status()}})
}

func (s *Server) cloudSwitch(w http.ResponseWriter, r *http.Request) {
	on, err := strconv.ParseBool(r.PostFormValue("enabled"))
	if err != nil {
		s.refuse(w, r, http.StatusBadRequest, "enabled must be true or false")
		return
	}
	if err := s.setCloud(on); err != nil {
		s.render(w, r, http.StatusConflict, "settings", view{Title: "Settings", Nav: "settings", Error: err.Error(), Data: s.Status()})
		return
	}
	s.log.Info("cloud switched", "enabled", on, "by", by(r))
	http.Redirect(w, r, "/settings", http.StatusSeeOther)
}

// ---- template helpers ----------------------------------------------------------------------------

func when(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	if d < 0 {
		d = 0
	}
	return roundDuration(d) + " ago"
}

func dash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// thousands prints 50000 as 50,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// humanBytes prints a size in B, KiB or MiB.
func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
