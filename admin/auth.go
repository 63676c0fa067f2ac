package admin

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// TokenName is the admin token's file name in state_dir.
const TokenName = "admin.token"

// LoadToken reads state_dir/admin.token. With create, a missing token is made: 32 random bytes in
// hex, written 0600 (the daemon does this on its first start). A token file that others can read is
// made 0600 again, since the token opens the admin API to whoever holds it.
func LoadToken(stateDir string, create bool) (string, error) {
	path := filepath.Join(stateDir, TokenName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		tok := randomHex(32)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return LoadToken(stateDir, false) // made meanwhile
		}
		if err != nil {
			return "", fmt.Errorf("admin token %s: %w", path, err)
		}
		_, err = f.WriteString(tok + "\n")
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
			return "", fmt.Errorf("admin token %s: %w", path, err)
		}
		return tok, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("no admin token at %s yet: the daemon makes it on its first start (edgegw run)", path)
	}
	if err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 32 || strings.ContainsAny(tok, " \t\r\n") {
		return "", fmt.Errorf("admin token %s is not a token (at least 32 characters on one line); delete it and restart the daemon to make a new one", path)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 && create {
		if err := os.Chmod(path, 0o600); err != nil {
			return "", fmt.Errorf("admin token %s is readable by others and cannot be made 0600: %w", path, err)
		}
	}
	return tok, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// sameSecret compares secrets in constant time.
func sameSecret(a, b string) bool {
	return len(a) > 0 && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// Sessions of the page: a random id in an HttpOnly, SameSite=Strict cookie (Secure under TLS), held in
// memory only, so a restart logs everyone out. Each carries the CSRF token its forms must send back.
const (
	sessionCookie   = "edgegw_session"
	loginCookie     = "edgegw_login" // the login form's CSRF token (double-submit), before any session
	sessionLifetime = 12 * time.Hour
	maxSessions     = 256
)

type session struct {
	id      string
	csrf    string
	expires time.Time
}

type sessions struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]*session
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{now: now, m: map[string]*session{}}
}

// create starts a session, dropping expired ones and, past maxSessions, the oldest.
func (ss *sessions) create() *session {
	now := ss.now()
	s := &session{id: randomHex(32), csrf: randomHex(32), expires: now.Add(sessionLifetime)}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	var oldest *session
	for id, o := range ss.m {
		if !now.Before(o.expires) {
			delete(ss.m, id)
		} else if oldest == nil || o.expires.Before(oldest.expires) {
			oldest = o
		}
	}
	if len(ss.m) >= maxSessions && oldest != nil {
		delete(ss.m, oldest.id)
	}
	ss.m[s.id] = s
	return s
}

func (ss *sessions) get(id string) *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[id]
	if !ok {
		return nil
	}
	if !ss.now().Before(s.expires) {
		delete(ss.m, id)
		return nil
	}
	return s
}

func (ss *sessions) remove(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, id)
}

// access is who a request is, as the handlers need it.
type access struct {
	trusted bool     // the unix socket: no token, no CSRF
	session *session // the page's session over TCP, nil otherwise
}

type accessKey struct{}

func accessOf(r *http.Request) access {
	a, _ := r.Context().Value(accessKey{}).(access)
	return a
}

// csrfToken is what the page's forms carry; "" over the socket, where no check is made.
func (a access) csrfToken() string {
	if a.session != nil {
		return a.session.csrf
	}
	return ""
}

// handler is the whole admin side for one listener: security headers, then who may do what, then the
// routes. trusted is the unix socket.
func (s *Server) handler(trusted bool) http.Handler {
	mux := s.routes()
	pprofMux := http.NewServeMux() // Go's profiler (net/http/pprof), on the trusted socket only
	pprofMux.HandleFunc("/debug/pprof/", pprof.Index)
	pprofMux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	cop := http.NewCrossOriginProtection() // a second line behind the CSRF tokens: no cross-site POST at all
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.refuse(w, r, http.StatusForbidden, "cross-origin request refused")
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		if s.tls != nil && !trusted {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		if trusted {
			// Go's profiler, for troubleshooting CPU and memory at scale: on the socket only.
			if strings.HasPrefix(r.URL.Path, "/debug/pprof/") {
				h.Del("Content-Security-Policy")
				pprofMux.ServeHTTP(w, r)
				return
			}
			mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), accessKey{}, access{trusted: true})))
			return
		}
		a, ok := s.authorize(w, r)
		if !ok {
			return
		}
		cop.Handler(mux).ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), accessKey{}, a)))
	})
}

// contentSecurityPolicy: nothing but the page's own stylesheet and images; no script at all (the page
// needs none), no frames, forms only to itself.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'"

// authorize decides a TCP request: open paths, the bearer token, the session cookie. It answers the
// refusals itself.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) (access, bool) {
	path := r.URL.Path
	switch {
	case strings.HasPrefix(path, "/static/"), path == "/login":
		return access{session: s.sessionOf(r)}, true
	case path == "/metrics" || path == "/healthz" || path == "/readyz":
		if fromLoopback(r) || s.bearer(r) {
			return access{}, true
		}
		s.refuse(w, r, http.StatusUnauthorized, "from another host, "+path+" needs the admin token (Authorization: Bearer ...)")
		return access{}, false
	case strings.HasPrefix(path, "/api/"):
		if s.bearer(r) {
			return access{}, true
		}
		if r.Header.Get("Authorization") != "" {
			s.log.Warn("admin API request with a wrong token", "remote", r.RemoteAddr, "path", path)
			s.refuse(w, r, http.StatusUnauthorized, "wrong token")
			return access{}, false
		}
		// The page's session may read the API; changes need the token, so no cookie can make them.
		if sess := s.sessionOf(r); sess != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			return access{session: sess}, true
		}
		s.refuse(w, r, http.StatusUnauthorized, "the admin API needs the token: Authorization: Bearer $(edgegw admin token --config FILE)")
		return access{}, false
	}
	sess := s.sessionOf(r)
	if sess == nil {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		} else {
			s.refuse(w, r, http.StatusUnauthorized, "log in first")
		}
		return access{}, false
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if !s.parseForm(w, r) {
			return access{}, false
		}
		// Every state-changing form carries the session's CSRF token.
		if !sameSecret(r.PostFormValue("csrf"), sess.csrf) {
			s.log.Warn("admin form without a valid CSRF token refused", "remote", r.RemoteAddr, "path", path)
			s.refuse(w, r, http.StatusForbidden, "the form's CSRF token is missing or wrong: reload the page and try again")
			return access{}, false
		}
	}
	return access{session: sess}, true
}

// bearer reports whether the request carries the admin token.
func (s *Server) bearer(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && sameSecret(strings.TrimSpace(tok), s.token)
}

func (s *Server) sessionOf(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	return s.sessions.get(c.Value)
}

// fromLoopback reports whether the request came from this host.
func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// setCookie sets one of our cookies: HttpOnly, SameSite=Strict, Secure under TLS.
func (s *Server) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: s.tls != nil})
}

// parseForm reads a form, within the size of a claims file (an upload is the largest form), and
// answers 413 or 400 itself when it cannot.
func (s *Server) parseForm(w http.ResponseWriter, r *http.Request) bool {
	limit := s.opts.MaxCSVBytes + 64<<10
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	var err error
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		err = r.ParseMultipartForm(limit) // in memory: the limit is small
	} else {
		err = r.ParseForm()
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		s.refuse(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("the upload is larger than %s, the limit; split the file", byteSize(s.opts.MaxCSVBytes)))
		return false
	case err != nil:
		s.refuse(w, r, http.StatusBadRequest, "unreadable form: "+err.Error())
		return false
	}
	return true
}

// byteSize prints a size in MiB or KiB.
func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
