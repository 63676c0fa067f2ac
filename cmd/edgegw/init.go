package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/edgegw/edgegw/config"
)

// Files `edgegw init` makes or names in its directory.
const (
	initConfigName = "edgegw.toml"
	initKeyName    = "gateway.key"
	initCSRName    = "gateway.csr"
	initCertName   = "gateway.pem"  // where the signed certificate is expected (next steps)
	initCAName     = "cloud-ca.pem" // where the cloud's CA is expected (next steps)
)

// expiryWarning is how close to its end a certificate is reported by init --check.
const expiryWarning = 30 * 24 * time.Hour

const initUsage = `edgegw init [--id ID] [--dir DIR] [--user NAME]
       edgegw init --check [--config FILE | --dir DIR] [--user NAME]

init makes what a gateway needs to join the cloud, in DIR: its private key (gateway.key, ECDSA P-256,
mode 0600, owned by the gateway's user; an existing key is never overwritten), a certificate signing
request with the gateway id as common name (gateway.csr, made again on each run from the same key), and
a starting configuration (edgegw.toml) if there is none. Then it prints the next steps.
With a configuration already there, --id sets its gateway.id; without --id the configuration's id is
used (or, with no configuration, this host's name).

init --check verifies the key, certificate and CA files the configuration names: they exist, the
certificate matches the key and chains to the CA, none has expired, and the key is readable only by the
gateway's user. Exit 0 when all is well, 1 when something must be fixed.`

func cmdInit(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("init", initUsage, stdout)
	id := fs.String("id", "", "gateway id, the certificate's common name (default: the configuration's, else the host name)")
	dir := fs.String("dir", defaultInitDir(), "directory for the key, the CSR and the configuration")
	check := fs.Bool("check", false, "verify the certificates the configuration names instead")
	cfgPath := fs.String("config", "", "with --check: the configuration file (default DIR/"+initConfigName+")")
	userName := fs.String("user", "", "the account the gateway runs as, which owns the key (default "+defaultAccountHint+")")
	if err := parse(fs, args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *dir == "" {
		return usagef("edgegw init: --dir must not be empty")
	}
	acct, note, err := lookupAccount(*userName, !*check)
	if err != nil {
		return err
	}
	if *check {
		if set["id"] {
			return usagef("edgegw init --check: --id is for making a key; the check reads the configuration's id")
		}
		path := *cfgPath
		if path == "" {
			path = filepath.Join(*dir, initConfigName)
		}
		return initCheck(path, acct, note, stdout)
	}
	if set["config"] {
		return usagef("edgegw init: --config is for --check; init writes DIR/%s (see --dir)", initConfigName)
	}
	err = initMake(*dir, *id, acct, note, stdout)
	if errors.Is(err, os.ErrPermission) {
		err = fmt.Errorf("%w (%s)", err, elevateHint)
	}
	return err
}

// gatewayIDInvalid is what config does not accept in a gateway.id (config/validate.go); init uses it to
// turn a host name into an id.
var gatewayIDInvalid = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// hostID is this host's name as a gateway id: invalid characters become "-", at most 64 of them.
func hostID() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "edgegw"
	}
	h = strings.Trim(gatewayIDInvalid.ReplaceAllString(strings.SplitN(h, ".", 2)[0], "-"), "-")
	if len(h) > 64 {
		h = h[:64]
	}
	if h == "" {
		return "edgegw"
	}
	return h
}

// account is the one the gateway runs as: it owns the key. uid and gid are -1 where there are none
// (Windows, where the directory's ACL decides).
type account struct {
	name     string
	uid, gid int
	gids     []int // every group the account is in
}

// readers says who can read a file that passed ownerOnly.
func (a *account) readers() string {
	if a.uid < 0 {
		return "guarded by its directory's ACL (SYSTEM, Administrators, the service)"
	}
	return "readable only by " + a.name
}

func (a *account) describe() string {
	if a.uid < 0 {
		return "under the directory's ACL"
	}
	return "owned by " + a.name
}

// initMake is `edgegw init`: config, key, CSR, then the next steps.
func initMake(dir, id string, acct *account, note string, stdout io.Writer) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := makeConfigDir(dir, acct); err != nil {
		return err
	}
	cfgPath := filepath.Join(dir, initConfigName)
	cfgNote, id, err := initConfig(cfgPath, dir, id, acct)
	if err != nil {
		return err
	}
	keyPath := filepath.Join(dir, initKeyName)
	key, keyNote, err := initKey(keyPath, acct)
	if err != nil {
		return err
	}
	csrPath := filepath.Join(dir, initCSRName)
	if err := writeCSR(csrPath, id, key); err != nil {
		return err
	}
	w := func(format string, a ...any) { fmt.Fprintf(stdout, format, a...) }
	if note != "" {
		w("note: %s\n", note)
	}
	w("gateway id   %s\n", id)
	w("private key  %s (%s)\n", keyPath, keyNote)
	w("request      %s (CN=%s; send this one)\n", csrPath, id)
	w("config       %s (%s)\n", cfgPath, cfgNote)
	w("\nNext steps:\n")
	w("  1. Send %s to the cloud operator. The private key never leaves this machine.\n", csrPath)
	w("  2. Put the signed certificate in %s and the cloud's CA certificate in %s.\n",
		filepath.Join(dir, initCertName), filepath.Join(dir, initCAName))
	w("  3. In %s: in [cloud] set enabled = true, url, ca_file, cert_file and key_file;\n", cfgPath)
	w("     add the site's [[discovery.snmp]] / [[discovery.modbus]] targets.\n")
	w("  4. Check:  edgegw init --check --config %s\n", cfgPath)
	w("             edgegw config check --config %s\n", cfgPath)
	if filepath.Clean(dir) == filepath.Clean(defaultInitDir()) {
		w("  5. Start:  %s\n", startHint)
	} else {
		w("  5. Start:  edgegw run --config %s\n", cfgPath)
	}
	return nil
}

// initConfig writes a starting configuration when there is none, or sets the id of the one there;
// it returns what it did and the gateway id to use.
func initConfig(path, dir, id string, acct *account) (note, gwID string, err error) {
	old, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if id == "" {
			id = hostID()
		}
		stateDir, profilesDir := initLayout(dir)
		text := starterFor(id, stateDir, profilesDir)
		if err := checkConfigText(path, text); err != nil {
			return "", "", err
		}
		if err := makeDir(resolveIn(dir, profilesDir), 0o750, acct, false); err != nil {
			return "", "", err
		}
		if err := makeDir(resolveIn(dir, stateDir), 0o700, acct, true); err != nil {
			return "", "", err
		}
		if err := writeFileAtomic(path, []byte(text), 0o640, func(tmp string) error { return ownConfig(tmp, acct) }); err != nil {
			return "", "", err
		}
		return "new: no discovery target, cloud off", id, nil
	case err != nil:
		return "", "", fmt.Errorf("read %s: %w", path, err)
	}
	cfg, err := config.Load(path, protocols().tableCodecs()...)
	if err != nil {
		return "", "", err
	}
	if id == "" || id == cfg.Gateway.ID {
		return "kept", cfg.Gateway.ID, nil
	}
	text, ok := setKey(string(old), "gateway", "id", id)
	if !ok {
		return "", "", fmt.Errorf("%s: no `id = \"...\"` line in [gateway] to set to %q; set it by hand", path, id)
	}
	if err := checkConfigText(path, text); err != nil {
		return "", "", err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", "", err
	}
	if err := writeFileAtomic(path, []byte(text), fi.Mode().Perm(), func(tmp string) error { return copyOwner(fi, tmp) }); err != nil {
		return "", "", err
	}
	return fmt.Sprintf("kept; gateway.id %q set to %q", cfg.Gateway.ID, id), id, nil
}

// checkConfigText loads text as if it were the file at path (same directory, so relative paths mean
// the same), and returns its errors.
func checkConfigText(path, text string) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".edgegw-init-*.toml")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	_, err = config.Load(f.Name(), protocols().tableCodecs()...)
	if err != nil {
		return fmt.Errorf("%s would not load: %w", path, err)
	}
	return nil
}

// resolveIn is p relative to dir unless absolute.
func resolveIn(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// writeFileAtomic writes data to path through a temporary file in the same directory, prepared by
// prep (ownership), then renamed over path.
func writeFileAtomic(path string, data []byte, mode fs.FileMode, prep func(tmp string) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // gone after the rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return err
	}
	if prep != nil {
		if err := prep(tmp); err != nil {
			return err
		}
	}
	return os.Rename(tmp, path)
}

// initKey loads the key at path, or creates it: ECDSA P-256 in PKCS #8, mode 0600, owned by the
// gateway's account. An existing key is never replaced, whatever it is.
func initKey(path string, acct *account) (crypto.Signer, string, error) {
	if data, err := os.ReadFile(path); err == nil {
		key, desc, err := parseKey(data)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w (an existing key is never overwritten: move it away to make a new one)", path, err)
		}
		return key, "kept: " + desc + "; an existing key is never overwritten", nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("read %s: %w", path, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, "", err
	}
	// O_EXCL: never overwrite, even a key another init wrote a moment ago.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, "", fmt.Errorf("create %s: %w", path, err)
	}
	err = pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = ownKey(path, acct)
	}
	if err != nil {
		os.Remove(path)
		return nil, "", fmt.Errorf("write %s: %w", path, err)
	}
	return key, "new: ECDSA P-256, mode 0600, " + acct.describe(), nil
}

// parseKey reads a PEM private key (PKCS #8, SEC 1 or PKCS #1) and says what it is.
func parseKey(data []byte) (crypto.Signer, string, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, "", errors.New("no PEM private key in it")
		}
		var key any
		var err error
		switch b.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, "", errors.New("the key is encrypted: the gateway needs it unencrypted (readable only by its user)")
		default:
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("not a private key: %w", err)
		}
		s, ok := key.(crypto.Signer)
		if !ok {
			return nil, "", fmt.Errorf("unsupported private key type %T", key)
		}
		return s, describeKey(s.Public()), nil
	}
}

// describeKey names a public key's algorithm and size.
func describeKey(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", pub)
}

// writeCSR writes a certificate signing request for CN=id signed with key (mode 0644: it is public).
func writeCSR(path, id string, key crypto.Signer) error {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: id},
	}, key)
	if err != nil {
		return fmt.Errorf("certificate request: %w", err)
	}
	return writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), 0o644, nil)
}

// initCheck is `edgegw init --check`.
func initCheck(path string, acct *account, note string, stdout io.Writer) error {
	cfg, err := config.Load(path, protocols().tableCodecs()...)
	if err != nil {
		var es config.Errors
		if errors.As(err, &es) {
			for _, e := range es {
				fmt.Fprintln(stdout, "FAIL  "+config.RedactURLs(e.Error()))
			}
			return errSilent
		}
		if errors.Is(err, fs.ErrPermission) {
			err = fmt.Errorf("%w (%s)", err, elevateHint)
		}
		fmt.Fprintln(stdout, "FAIL  "+config.RedactURLs(err.Error()))
		return errSilent
	}
	c := &checker{out: stdout}
	if note != "" {
		c.line("note", "%s", note)
	}
	c.certs(cfg, acct, time.Now())
	if c.failed > 0 {
		fmt.Fprintf(stdout, "init --check: %d problem(s) in what %s names\n", c.failed, path)
		return errSilent
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}

// checker prints one line per finding and counts the failures.
type checker struct {
	out    io.Writer
	failed int
}

func (c *checker) line(level, format string, a ...any) {
	fmt.Fprintf(c.out, "%-5s %s\n", level, config.RedactURLs(fmt.Sprintf(format, a...)))
}

func (c *checker) ok(format string, a ...any)   { c.line("ok", format, a...) }
func (c *checker) warn(format string, a ...any) { c.line("warn", format, a...) }
func (c *checker) fail(format string, a ...any) { c.failed++; c.line("FAIL", format, a...) }

// certs checks the [cloud] key, certificate and CA at now.
func (c *checker) certs(cfg *config.Config, acct *account, now time.Time) {
	cl := cfg.Cloud
	if !cl.Enabled {
		c.warn("cloud.enabled = false: the files are checked, but nothing uses them until it is true")
	}
	if cl.CertFile == "" && cl.KeyFile == "" {
		if cl.SASL == "plain" || cl.SASL == "anonymous" {
			c.ok("no client certificate: cloud.sasl = %s", cl.SASL)
		} else {
			c.fail("cloud.cert_file and cloud.key_file are not set: set them to the signed certificate and the key edgegw init made (%s)", initKeyName)
		}
	} else {
		var key crypto.Signer
		if cl.KeyFile == "" {
			c.fail("cloud.key_file is not set (cloud.cert_file is)")
		} else {
			key = c.key(cl.KeyFile, acct)
		}
		if cl.CertFile == "" {
			c.fail("cloud.cert_file is not set (cloud.key_file is)")
		} else {
			c.cert(cfg, cl.CertFile, cl.CAFile, key, acct, now)
		}
	}
	if cl.CAFile == "" {
		c.ok("cloud.ca_file is not set: the system's roots verify the broker")
	} else {
		c.ca(cl.CAFile, acct, now)
	}
}

func (c *checker) key(path string, acct *account) crypto.Signer {
	fi, err := os.Stat(path)
	if err != nil {
		c.fail("key %s: %s", path, reason(err))
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		c.fail("key %s: %s", path, reason(err))
		return nil
	}
	key, desc, err := parseKey(data)
	if err != nil {
		c.fail("key %s: %v", path, err)
		return nil
	}
	if err := ownerOnly(fi, acct); err != nil {
		c.fail("key %s: %v", path, err)
	} else {
		c.ok("key %s: %s, %s", path, desc, acct.readers())
	}
	return key
}

func (c *checker) cert(cfg *config.Config, path, caPath string, key crypto.Signer, acct *account, now time.Time) {
	certs, ok := c.readCerts("certificate", path, acct)
	if !ok {
		return
	}
	leaf := certs[0]
	c.validity("certificate", path, leaf, now)
	if key != nil {
		if pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); ok && pub.Equal(key.Public()) {
			c.ok("certificate %s matches the key (%s)", path, describeKey(key.Public()))
		} else {
			c.fail("certificate %s is not for the key in %s: it was signed for another key", path, cfg.Cloud.KeyFile)
		}
	}
	if cn := leaf.Subject.CommonName; cn != cfg.Gateway.ID {
		c.warn("certificate %s names CN=%q, gateway.id is %q", path, cn, cfg.Gateway.ID)
	} else {
		c.ok("certificate %s names CN=%s, the gateway id", path, cn)
	}
	if caPath == "" {
		return
	}
	cas, err := readCertFile(caPath)
	if err != nil {
		return // reported by ca
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, ca := range cas {
		roots.AddCert(ca)
	}
	for _, ic := range certs[1:] {
		inter.AddCert(ic)
	}
	_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		c.warn("certificate %s does not chain to cloud.ca_file %s (%v): fine only if the cloud signs gateways with another CA than the broker's", path, caPath, err)
	} else {
		c.ok("certificate %s chains to %s for client authentication", path, caPath)
	}
}

func (c *checker) ca(path string, acct *account, now time.Time) {
	cas, ok := c.readCerts("CA", path, acct)
	if !ok {
		return
	}
	for _, ca := range cas {
		c.validity("CA", path, ca, now)
	}
}

// readCerts reads a PEM certificate file and checks the gateway can read it.
func (c *checker) readCerts(what, path string, acct *account) ([]*x509.Certificate, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		c.fail("%s %s: %s", what, path, reason(err))
		return nil, false
	}
	certs, err := readCertFile(path)
	if err != nil {
		c.fail("%s %s: %v", what, path, err)
		return nil, false
	}
	if err := readableBy(fi, acct); err != nil {
		c.fail("%s %s: %v", what, path, err)
	}
	return certs, true
}

// validity checks a certificate's dates at now.
func (c *checker) validity(what, path string, cert *x509.Certificate, now time.Time) {
	name := cert.Subject.CommonName
	if name == "" {
		name = cert.Subject.String()
	}
	day := "2006-01-02 15:04 MST"
	switch {
	case now.Before(cert.NotBefore):
		c.fail("%s %s (%s) is not valid before %s", what, path, name, cert.NotBefore.UTC().Format(day))
	case now.After(cert.NotAfter):
		c.fail("%s %s (%s) expired on %s", what, path, name, cert.NotAfter.UTC().Format(day))
	case cert.NotAfter.Sub(now) < expiryWarning:
		c.warn("%s %s (%s) expires on %s, in %d days", what, path, name, cert.NotAfter.UTC().Format(day),
			int(cert.NotAfter.Sub(now).Hours()/24))
	default:
		c.ok("%s %s (%s) valid until %s", what, path, name, cert.NotAfter.UTC().Format(day))
	}
}

// readCertFile reads every certificate of a PEM file.
func readCertFile(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, errors.New(reason(err))
	}
	var out []*x509.Certificate
	for len(bytes.TrimSpace(data)) > 0 {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(out)+1, err)
		}
		out = append(out, cert)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate in it")
	}
	return out, nil
}

// reason is an os error without the path the message already names.
func reason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}
