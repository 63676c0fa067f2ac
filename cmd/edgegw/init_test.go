package main

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/config"
	"github.com/edgegw/edgegw/internal/peers"
)

// needOpenSSL is the openssl command line, which the init tests check edgegw's output with; in CI
// its absence fails the test.
func needOpenSSL(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		if peers.InCI() {
			t.Fatal("openssl is missing (apt-get install openssl)")
		}
		t.Skip("openssl is missing")
	}
}

func openssl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("openssl", args...).CombinedOutput()
	require.NoError(t, err, "openssl %s: %s", strings.Join(args, " "), out)
	return string(out)
}

// me is the current user, named to every init in these tests: by default init as root picks the
// packaged user edgegw when it exists, and the package test (packaging/) makes and removes that user
// while these tests may run.
func me(t *testing.T) string {
	t.Helper()
	u, err := user.Current()
	require.NoError(t, err)
	return u.Username
}

// initDir runs edgegw init in a new directory and returns it.
func initDir(t *testing.T, args ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "gw")
	code, out, errOut := runCLI(append([]string{"init", "--dir", dir, "--user", me(t)}, args...)...)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	require.Contains(t, out, "Next steps:")
	return dir
}

func TestInitMakesKeyRequestAndConfig(t *testing.T) {
	needOpenSSL(t)
	dir := initDir(t, "--id", "gw-test-1")
	key, csr := filepath.Join(dir, "gateway.key"), filepath.Join(dir, "gateway.csr")

	// The key: ECDSA P-256, 0600.
	fi, err := os.Stat(key)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	text := openssl(t, "pkey", "-in", key, "-noout", "-text")
	require.Contains(t, text, "Private-Key: (256 bit)")
	require.Contains(t, text, "ASN1 OID: prime256v1")
	require.Contains(t, text, "NIST CURVE: P-256")

	// The request: CN = the id, signed by that key.
	out := openssl(t, "req", "-in", csr, "-noout", "-verify", "-subject")
	require.Contains(t, out, "verify OK")
	require.Contains(t, out, "subject=CN = gw-test-1")
	require.Equal(t, openssl(t, "pkey", "-in", key, "-pubout"), openssl(t, "req", "-in", csr, "-noout", "-pubkey"))
	require.Contains(t, openssl(t, "req", "-in", csr, "-noout", "-text"), "Signature Algorithm: ecdsa-with-SHA256")

	// The starting configuration, with its state and profiles beside it.
	cfg, err := config.Load(filepath.Join(dir, "edgegw.toml"), protocols().tableCodecs()...)
	require.NoError(t, err)
	require.Equal(t, "gw-test-1", cfg.Gateway.ID)
	require.Equal(t, filepath.Join(dir, "state"), cfg.Gateway.StateDir)
	require.False(t, cfg.Cloud.Enabled)
	for path, mode := range map[string]os.FileMode{"edgegw.toml": 0o640, "state": 0o700 | os.ModeDir, "profiles": 0o750 | os.ModeDir, ".": 0o750 | os.ModeDir} {
		fi, err := os.Stat(filepath.Join(dir, path))
		require.NoError(t, err)
		require.Equal(t, mode, fi.Mode()&(os.ModeDir|os.ModePerm), path)
	}
	code, out, _ := runCLI("config", "check", "--config", filepath.Join(dir, "edgegw.toml"))
	require.Equal(t, 0, code, out)

	keyBytes, err := os.ReadFile(key)
	require.NoError(t, err)

	t.Run("again keeps the key and the id", func(t *testing.T) {
		code, out, _ := runCLI("init", "--dir", dir, "--user", me(t))
		require.Equal(t, 0, code, out)
		require.Contains(t, out, "kept: ECDSA P-256; an existing key is never overwritten")
		require.Contains(t, out, "edgegw.toml (kept)")
		after, err := os.ReadFile(key)
		require.NoError(t, err)
		require.Equal(t, keyBytes, after)
		require.Contains(t, openssl(t, "req", "-in", csr, "-noout", "-subject"), "subject=CN = gw-test-1")
	})

	t.Run("a new id goes into the config and the request, not the key", func(t *testing.T) {
		path := filepath.Join(dir, "edgegw.toml")
		old, err := os.ReadFile(path)
		require.NoError(t, err)
		code, out, _ := runCLI("init", "--dir", dir, "--id", "gw-test-2", "--user", me(t))
		require.Equal(t, 0, code, out)
		require.Contains(t, out, `gateway.id "gw-test-1" set to "gw-test-2"`)
		cfg, err := config.Load(path, protocols().tableCodecs()...)
		require.NoError(t, err)
		require.Equal(t, "gw-test-2", cfg.Gateway.ID)
		now, err := os.ReadFile(path)
		require.NoError(t, err)
		require.Equal(t, strings.Replace(string(old), `id = "gw-test-1"`, `id = "gw-test-2"`, 1), string(now), "only the id line changes")
		fi, err := os.Stat(path)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o640), fi.Mode().Perm())
		after, err := os.ReadFile(key)
		require.NoError(t, err)
		require.Equal(t, keyBytes, after)
		require.Contains(t, openssl(t, "req", "-in", csr, "-noout", "-verify", "-subject"), "subject=CN = gw-test-2")
	})

	t.Run("an invalid id changes nothing", func(t *testing.T) {
		before, err := os.ReadFile(filepath.Join(dir, "edgegw.toml"))
		require.NoError(t, err)
		code, _, errOut := runCLI("init", "--dir", dir, "--id", "not an id!", "--user", me(t))
		require.Equal(t, 1, code)
		require.Contains(t, errOut, "gateway.id")
		after, err := os.ReadFile(filepath.Join(dir, "edgegw.toml"))
		require.NoError(t, err)
		require.Equal(t, before, after)
	})
}

func TestInitNeverOverwritesAKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gw")
	require.NoError(t, os.MkdirAll(dir, 0o750))
	key := filepath.Join(dir, "gateway.key")
	require.NoError(t, os.WriteFile(key, []byte("not a key\n"), 0o600))
	code, _, errOut := runCLI("init", "--dir", dir, "--id", "gw-x", "--user", me(t))
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "never overwritten")
	data, err := os.ReadFile(key)
	require.NoError(t, err)
	require.Equal(t, "not a key\n", string(data))
}

func TestInitUsage(t *testing.T) {
	for _, args := range [][]string{
		{"init", "--check", "--id", "x"},
		{"init", "--config", "x.toml"},
		{"init", "--dir", ""},
		{"init", "extra"},
	} {
		code, _, _ := runCLI(args...)
		require.Equal(t, 2, code, args)
	}
	code, out, _ := runCLI("init", "--help")
	require.Equal(t, 0, code)
	require.Contains(t, out, "never overwritten")
}

// signedGateway makes a CA with openssl, signs the gateway's request with it for client authentication
// (valid for days), and points the configuration at both.
func signedGateway(t *testing.T, dir string, days int) (caKey string) {
	t.Helper()
	caKey, ca := filepath.Join(dir, "ca.key"), filepath.Join(dir, "cloud-ca.pem")
	openssl(t, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", caKey, "-out", ca, "-subj", "/CN=edgegw test cloud CA", "-days", "365")
	ext := filepath.Join(dir, "client.ext")
	require.NoError(t, os.WriteFile(ext, []byte("extendedKeyUsage = clientAuth\n"), 0o644))
	openssl(t, "x509", "-req", "-in", filepath.Join(dir, "gateway.csr"), "-CA", ca, "-CAkey", caKey,
		"-CAcreateserial", "-out", filepath.Join(dir, "gateway.pem"), "-days", itoa(days), "-extfile", ext)
	path := filepath.Join(dir, "edgegw.toml")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	s := string(data)
	for old, repl := range map[string]string{
		"enabled = false":                         "enabled = true",
		`# url = "amqps://localhost:15671"`:       `url = "amqps://localhost:15671"`,
		`# ca_file = "/etc/edgegw/cloud-ca.pem"`:  `ca_file = "cloud-ca.pem"`,
		`# cert_file = "/etc/edgegw/gateway.pem"`: `cert_file = "gateway.pem"`,
		`# key_file = "/etc/edgegw/gateway.key"`:  `key_file = "gateway.key"`,
	} {
		require.Contains(t, s, old)
		s = strings.Replace(s, old, repl, 1)
	}
	require.NoError(t, os.WriteFile(path, []byte(s), 0o640))
	return caKey
}

func itoa(n int) string { return big.NewInt(int64(n)).String() }

func TestInitCheck(t *testing.T) {
	needOpenSSL(t)
	dir := initDir(t, "--id", "gw-check-1")
	cfgPath := filepath.Join(dir, "edgegw.toml")
	check := func(t *testing.T, extra ...string) (int, string) {
		t.Helper()
		code, out, errOut := runCLI(append([]string{"init", "--check", "--config", cfgPath, "--user", me(t)}, extra...)...)
		require.Empty(t, errOut)
		return code, out
	}

	t.Run("nothing configured yet", func(t *testing.T) {
		code, out := check(t)
		require.Equal(t, 1, code)
		require.Contains(t, out, "FAIL  cloud.cert_file and cloud.key_file are not set")
	})

	caKey := signedGateway(t, dir, 20)
	cert := filepath.Join(dir, "gateway.pem")

	t.Run("all good", func(t *testing.T) {
		code, out := check(t)
		require.Equal(t, 0, code, out)
		require.Contains(t, out, "matches the key (ECDSA P-256)")
		require.Contains(t, out, "CN=gw-check-1, the gateway id")
		require.Contains(t, out, "chains to "+filepath.Join(dir, "cloud-ca.pem")+" for client authentication")
		require.Regexp(t, `warn  certificate .* expires on .*, in 1[89] days`, out) // within 30 days
		require.Contains(t, out, "readable only by")
		require.True(t, strings.HasSuffix(out, "ok\n"), out)
	})

	t.Run("key readable by others", func(t *testing.T) {
		key := filepath.Join(dir, "gateway.key")
		require.NoError(t, os.Chmod(key, 0o644))
		defer os.Chmod(key, 0o600)
		code, out := check(t)
		require.Equal(t, 1, code)
		require.Contains(t, out, "mode 0644 lets others than its owner read it (chmod 600)")
	})

	t.Run("key of another user", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs another user than the key's owner: root's tests use nobody")
		}
		code, out := check(t, "--user", "nobody")
		require.Equal(t, 1, code)
		require.Contains(t, out, "owned by root, not nobody (chown nobody)")
	})

	t.Run("certificate for another key", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "other.key")
		openssl(t, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", other)
		withCert(t, cert, makeCert(t, caKey, filepath.Join(dir, "cloud-ca.pem"), other, "gw-check-1", time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour)))
		code, out := check(t)
		require.Equal(t, 1, code)
		require.Contains(t, out, "is not for the key in "+filepath.Join(dir, "gateway.key"))
	})

	t.Run("expired certificate", func(t *testing.T) {
		withCert(t, cert, makeCert(t, caKey, filepath.Join(dir, "cloud-ca.pem"), filepath.Join(dir, "gateway.key"), "gw-check-1",
			time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour)))
		code, out := check(t)
		require.Equal(t, 1, code)
		require.Regexp(t, `FAIL  certificate .*gateway.pem \(gw-check-1\) expired on `, out)
	})

	t.Run("another CA, another name", func(t *testing.T) {
		otherCA := filepath.Join(t.TempDir(), "ca.key")
		otherCAPem := filepath.Join(filepath.Dir(otherCA), "ca.pem")
		openssl(t, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
			"-keyout", otherCA, "-out", otherCAPem, "-subj", "/CN=another CA", "-days", "365")
		withCert(t, cert, makeCert(t, otherCA, otherCAPem, filepath.Join(dir, "gateway.key"), "someone-else",
			time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour)))
		code, out := check(t)
		require.Equal(t, 0, code, out) // both are warnings: some clouds sign gateways with another CA or name
		require.Contains(t, out, `names CN="someone-else", gateway.id is "gw-check-1"`)
		require.Contains(t, out, "does not chain to cloud.ca_file")
	})

	t.Run("missing files", func(t *testing.T) {
		require.NoError(t, os.Rename(cert, cert+".away"))
		defer os.Rename(cert+".away", cert)
		code, out := check(t)
		require.Equal(t, 1, code)
		require.Contains(t, out, "FAIL  certificate "+cert+": stat: no such file or directory")
	})
}

// withCert puts pemData in place of the certificate file for the rest of the subtest.
func withCert(t *testing.T, path string, pemData []byte) {
	t.Helper()
	old, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, pemData, 0o644))
	t.Cleanup(func() { os.WriteFile(path, old, 0o644) })
}

// makeCert signs a client certificate for the public key of keyPath with the CA's key, valid between
// the given times (openssl cannot make a certificate that has already expired).
func makeCert(t *testing.T, caKeyPath, caPath, keyPath, cn string, notBefore, notAfter time.Time) []byte {
	t.Helper()
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		return b
	}
	caKey, _, err := parseKey(read(caKeyPath))
	require.NoError(t, err)
	cas, err := readCertFile(caPath)
	require.NoError(t, err)
	key, _, err := parseKey(read(keyPath))
	require.NoError(t, err)
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    notBefore, NotAfter: notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, cas[0], key.Public(), caKey)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
