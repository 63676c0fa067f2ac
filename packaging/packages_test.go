//go:build linux

// Package packaging holds the tests of the edgegw packages that `make packages` builds: their contents
// and scriptlets (dpkg-deb, Debian's rpm), that one commit gives byte-identical packages, and, as root,
// a real install on this machine with dpkg: install, run, upgrade, remove, purge, and then everything
// the test made is gone again (package, user, group, files).
package packaging

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/internal/peers"
)

const root = ".." // the repository

// need finds a command the test cannot do without; in CI its absence is a failure.
func need(t *testing.T, cmds ...string) {
	t.Helper()
	for _, c := range cmds {
		if _, err := exec.LookPath(c); err != nil {
			if peers.InCI() {
				t.Fatalf("%s is missing (make test installs it as root: scripts/test.sh)", c)
			}
			t.Skipf("%s is missing", c)
		}
	}
}

// run runs a command with extra environment and returns its output, failing the test on an error.
func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	out, err := runErr(env, name, args...)
	require.NoError(t, err, "%s %s:\n%s", name, strings.Join(args, " "), out)
	return out
}

// commandTimeout bounds every command the test runs, so a hung one fails the test (and its cleanup
// still runs) instead of reaching go test's timeout.
const commandTimeout = 4 * time.Minute

func runErr(env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	return b.String(), err
}

// built is one run of scripts/packages.sh.
type built struct {
	dir, version string
}

func (b built) file(t *testing.T, pattern string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(b.dir, pattern))
	require.NoError(t, err)
	require.Len(t, m, 1, "%s in %s", pattern, b.dir)
	return m[0]
}

func buildPackages(t *testing.T, dir string, env ...string) built {
	t.Helper()
	start := time.Now()
	out := run(t, append([]string{"ARCHS=amd64", "DIST=" + dir}, env...), filepath.Join(root, "scripts/packages.sh"))
	t.Logf("scripts/packages.sh %s in %s:\n%s", strings.Join(env, " "), time.Since(start).Round(time.Second), out)
	b := built{dir: dir}
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PKG_VERSION="); ok {
			b.version = v
		}
	}
	if b.version == "" {
		b.version = strings.TrimSpace(run(t, nil, filepath.Join(root, "scripts/version.sh")))
	}
	return b
}

func sha(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return fmt.Sprintf("%x", sha256.Sum256(data))
}

func TestPackages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds packages: not in -short")
	}
	need(t, "git", "dpkg-deb")
	pkgs := buildPackages(t, t.TempDir())
	deb := pkgs.file(t, "edgegw_*_amd64.deb")
	rpmFile := pkgs.file(t, "edgegw-[0-9]*.x86_64.rpm")

	t.Run("version", func(t *testing.T) {
		require.Regexp(t, `^([0-9]+\.[0-9]+\.[0-9]+(\+git[0-9]+\.g[0-9a-f]+)?|0\.0\.0~git[0-9]+\.g[0-9a-f]{12})(\.dirty)?$`, pkgs.version)
		require.Equal(t, "edgegw_"+pkgs.version+"-1_amd64.deb", filepath.Base(deb))
		out := run(t, nil, filepath.Join(pkgs.dir, "build/linux-amd64/edgegw"), "version")
		require.Equal(t, "edgegw "+pkgs.version+"\n", out)
	})

	t.Run("reproducible", func(t *testing.T) {
		again := buildPackages(t, t.TempDir())
		for _, p := range []string{"edgegw_*.deb", "edgegw-console_*.deb", "edgegw-[0-9]*.rpm", "edgegw-console-*.rpm"} {
			require.Equal(t, sha(t, pkgs.file(t, p)), sha(t, again.file(t, p)), "%s differs between two builds of one commit", p)
		}
	})

	t.Run("deb contents", func(t *testing.T) {
		listing := run(t, nil, "dpkg-deb", "--contents", deb)
		for _, want := range []string{
			`-rwxr-xr-x root/root .* ./usr/bin/edgegw\n`,
			`drwxr-x--- root/edgegw .* ./etc/edgegw/\n`,
			`-rw-r----- root/edgegw .* ./etc/edgegw/edgegw.toml\n`,
			`drwxr-x--- root/edgegw .* ./etc/edgegw/profiles/\n`,
			`drwx------ edgegw/edgegw .* ./var/lib/edgegw/\n`,
			`-rw-r--r-- root/root .* ./lib/systemd/system/edgegw.service\n`,
			`-rw-r--r-- root/root .* ./usr/share/edgegw/profiles/mib2.toml\n`,
			`-rw-r--r-- root/root .* ./usr/share/edgegw/systemd/modbus-rtu.conf\n`,
			`-rw-r--r-- root/root .* ./usr/share/doc/edgegw/install.md\n`,
		} {
			require.Regexp(t, want, listing)
		}
		require.NotContains(t, listing, "edgegw-console", "the console has its own package")
		require.Equal(t, "/etc/edgegw/edgegw.toml\n", debControl(t, deb, "conffiles"))
		for _, s := range []string{"preinst", "postinst", "prerm", "postrm"} {
			require.NotEmpty(t, debControl(t, deb, s), s)
		}
		console := run(t, nil, "dpkg-deb", "--contents", pkgs.file(t, "edgegw-console_*_amd64.deb"))
		require.Regexp(t, `-rwxr-xr-x root/root .* ./usr/bin/edgegw-console\n`, console)
	})

	t.Run("rpm", func(t *testing.T) { checkRPM(t, rpmFile, pkgs.version) })

	t.Run("dpkg", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("installs the package on this machine: root only")
		}
		need(t, "dpkg", "systemd-analyze", "useradd", "userdel")
		upgrade := buildPackages(t, t.TempDir(), "PKG_VERSION="+pkgs.version+".1", "FORMATS=deb")
		installCycle(t, deb, upgrade.file(t, "edgegw_*_amd64.deb"), pkgs.version, upgrade.version)
	})
}

// debControl is one file of a .deb's control archive.
func debControl(t *testing.T, deb, name string) string {
	t.Helper()
	dir := t.TempDir()
	run(t, nil, "dpkg-deb", "--control", deb, dir)
	data, err := os.ReadFile(filepath.Join(dir, name))
	require.NoError(t, err)
	return string(data)
}

func checkRPM(t *testing.T, rpmFile, version string) {
	need(t, "rpm")
	q := func(args ...string) string {
		return run(t, nil, "rpm", append([]string{"-qp", "--nosignature"}, args...)...)
	}
	require.Equal(t, "edgegw "+version+" 1 x86_64 edgegw-build\n", q("--qf", "%{NAME} %{VERSION} %{RELEASE} %{ARCH} %{BUILDHOST}\n", rpmFile))
	files := q("-l", rpmFile)
	for _, f := range []string{"/usr/bin/edgegw", "/etc/edgegw/edgegw.toml", "/usr/lib/systemd/system/edgegw.service",
		"/var/lib/edgegw", "/usr/share/edgegw/profiles/mib2.toml", "/usr/share/edgegw/systemd/low-port.conf"} {
		require.Contains(t, files, f+"\n")
	}
	require.NotRegexp(t, `(?m)^/lib/`, files, "the rpm's unit is under /usr/lib")
	require.NotContains(t, files, "edgegw-console")
	require.Equal(t, "/etc/edgegw/edgegw.toml\n", q("-c", rpmFile), "the configuration is %config")
	perms := q("--qf", "[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILEFLAGS:fflags} %{FILENAMES}\n]", rpmFile)
	for _, want := range []string{
		"-rwxr-xr-x root:root  /usr/bin/edgegw\n",
		"-rw-r----- root:edgegw cn /etc/edgegw/edgegw.toml\n", // c: %config, n: noreplace
		"drwxr-x--- root:edgegw  /etc/edgegw\n",
		"drwx------ edgegw:edgegw  /var/lib/edgegw\n",
	} {
		require.Contains(t, perms, want)
	}
	scripts := q("--scripts", rpmFile)
	for _, want := range []string{
		"preinstall scriptlet", "useradd --system --gid edgegw --home-dir /var/lib/edgegw --no-create-home",
		"postinstall scriptlet", "chmod 0700 /var/lib/edgegw",
		"preuninstall scriptlet", `if [ "$1" -eq 0 ]`, "systemctl --no-reload disable edgegw.service",
		"postuninstall scriptlet", "systemctl try-restart edgegw.service",
	} {
		require.Contains(t, scripts, want)
	}
	require.NotContains(t, scripts, "rm -rf", "erasing an rpm never deletes the state")
	console := pkgsConsole(t, rpmFile)
	require.Equal(t, "/usr/bin/edgegw-console\n", run(t, nil, "rpm", "-qlp", "--nosignature", console))
}

func pkgsConsole(t *testing.T, rpmFile string) string {
	m, err := filepath.Glob(filepath.Join(filepath.Dir(rpmFile), "edgegw-console-*.x86_64.rpm"))
	require.NoError(t, err)
	require.Len(t, m, 1)
	return m[0]
}

// machinePaths are what the package puts on the machine: none may be there before the test.
var machinePaths = []string{"/usr/bin/edgegw", "/etc/edgegw", "/var/lib/edgegw", "/usr/share/edgegw",
	"/usr/share/doc/edgegw", "/lib/systemd/system/edgegw.service"}

// installCycle installs deb, checks and runs it, upgrades to upgradeDeb, removes and purges, and
// leaves the machine as it found it.
func installCycle(t *testing.T, deb, upgradeDeb, version, upgradeVersion string) {
	// Touch nothing that is not ours.
	if out, err := runErr(nil, "dpkg-query", "-W", "-f", "${Status}", "edgegw"); err == nil && !strings.Contains(out, "not-installed") {
		t.Fatalf("a package edgegw is on this machine (%s): the test will not replace it", out)
	}
	for _, p := range machinePaths {
		if _, err := os.Lstat(p); err == nil {
			t.Fatalf("%s exists already: the test will not touch it", p)
		}
	}
	_, errUser := user.Lookup("edgegw")
	_, errGroup := user.LookupGroup("edgegw")
	madeUser, madeGroup := errUser != nil, errGroup != nil
	t.Cleanup(func() {
		if out, err := runErr(nil, "dpkg-query", "-W", "-f", "${Status}", "edgegw"); err == nil && !strings.Contains(out, "not-installed") {
			out, err := runErr(nil, "dpkg", "--purge", "edgegw")
			if err != nil {
				t.Errorf("cleanup: dpkg --purge edgegw: %v\n%s", err, out)
			}
		}
		for _, p := range machinePaths {
			os.RemoveAll(p)
		}
		if madeUser {
			if _, err := user.Lookup("edgegw"); err == nil {
				if out, err := runErr(nil, "userdel", "edgegw"); err != nil {
					t.Errorf("cleanup: userdel edgegw: %v\n%s", err, out)
				}
			}
		}
		if madeGroup {
			if _, err := user.LookupGroup("edgegw"); err == nil {
				if out, err := runErr(nil, "groupdel", "edgegw"); err != nil {
					t.Errorf("cleanup: groupdel edgegw: %v\n%s", err, out)
				}
			}
		}
	})

	out := run(t, nil, "dpkg", "--install", deb)
	t.Log(out)
	require.Contains(t, out, "edgegw: next, run 'edgegw init --id NAME'")

	u, err := user.Lookup("edgegw")
	require.NoError(t, err, "the package makes the user")
	g, err := user.LookupGroup("edgegw")
	require.NoError(t, err)
	require.Equal(t, g.Gid, u.Gid)
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	require.Less(t, uid, 1000, "a system user")
	require.Equal(t, "/var/lib/edgegw", u.HomeDir)
	passwd := run(t, nil, "getent", "passwd", "edgegw")
	require.True(t, strings.HasSuffix(strings.TrimSpace(passwd), ":/usr/sbin/nologin"), passwd)

	owner := func(path string, mode os.FileMode, wantUID, wantGID int) {
		t.Helper()
		fi, err := os.Stat(path)
		require.NoError(t, err)
		require.Equal(t, mode, fi.Mode()&(os.ModeDir|os.ModePerm), path)
		st := fi.Sys().(*syscall.Stat_t)
		require.Equal(t, [2]int{wantUID, wantGID}, [2]int{int(st.Uid), int(st.Gid)}, path)
	}
	owner("/etc/edgegw", os.ModeDir|0o750, 0, gid)
	owner("/etc/edgegw/edgegw.toml", 0o640, 0, gid)
	owner("/etc/edgegw/profiles", os.ModeDir|0o750, 0, gid)
	owner("/var/lib/edgegw", os.ModeDir|0o700, uid, gid)
	owner("/usr/bin/edgegw", 0o755, 0, 0)
	owner("/lib/systemd/system/edgegw.service", 0o644, 0, 0)

	// The built-in profiles as files: the same as the ones in the binary.
	src, err := filepath.Glob(filepath.Join(root, "drivers/profile/profiles/*.toml"))
	require.NoError(t, err)
	installed, err := filepath.Glob("/usr/share/edgegw/profiles/*.toml")
	require.NoError(t, err)
	require.Len(t, installed, len(src))
	for _, s := range src {
		require.Equal(t, sha(t, s), sha(t, "/usr/share/edgegw/profiles/"+filepath.Base(s)))
	}

	require.Equal(t, "edgegw "+version+"\n", run(t, nil, "/usr/bin/edgegw", "version"))
	// As the service's user: it can read its configuration, and the configuration is valid.
	require.Equal(t, "ok\n", asUser(t, uid, gid, nil, "/usr/bin/edgegw", "config", "check", "--config", "/etc/edgegw/edgegw.toml"))

	// The unit: systemd accepts it, and its exposure is low.
	out, err = runErr(nil, "systemd-analyze", "verify", "/lib/systemd/system/edgegw.service")
	require.NoError(t, err, "systemd-analyze verify:\n%s", out)
	out, err = runErr(nil, "systemd-analyze", "security", "--offline=true", "--threshold=20", "/lib/systemd/system/edgegw.service")
	require.NoError(t, err, "systemd-analyze security: exposure above 2.0:\n%s", out)
	m := regexp.MustCompile(`Overall exposure level for edgegw.service: ([0-9.]+)`).FindStringSubmatch(out)
	require.NotNil(t, m, out)
	t.Logf("systemd-analyze security --offline=true edgegw.service: exposure %s", m[1])

	// edgegw init in the packaged layout: the key goes to the service's user.
	out = run(t, nil, "/usr/bin/edgegw", "init", "--id", "pkg-test-gw")
	require.Contains(t, out, "systemctl enable --now edgegw")
	owner("/etc/edgegw/gateway.key", 0o600, uid, gid)
	cfg, err := os.ReadFile("/etc/edgegw/edgegw.toml")
	require.NoError(t, err)
	require.Contains(t, string(cfg), `id = "pkg-test-gw"`)

	// The daemon as systemd would run it: the service's user, a notify socket; READY=1 means the state
	// store is open.
	runDaemon(t, uid, gid)
	owner("/var/lib/edgegw/state.key", 0o600, uid, gid)
	owner("/var/lib/edgegw/state.db", 0o600, uid, gid)
	stateDB, stateKey := sha(t, "/var/lib/edgegw/state.db"), sha(t, "/var/lib/edgegw/state.key")

	// The site edits its configuration; an upgrade keeps it, the key and the state.
	f, err := os.OpenFile("/etc/edgegw/edgegw.toml", os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString("# changed by the site\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	siteConfig, gwKey := sha(t, "/etc/edgegw/edgegw.toml"), sha(t, "/etc/edgegw/gateway.key")

	t.Log(run(t, nil, "dpkg", "--install", upgradeDeb))
	require.Equal(t, "edgegw "+upgradeVersion+"\n", run(t, nil, "/usr/bin/edgegw", "version"))
	require.Equal(t, siteConfig, sha(t, "/etc/edgegw/edgegw.toml"), "the upgrade kept the site's configuration")
	require.Equal(t, gwKey, sha(t, "/etc/edgegw/gateway.key"))
	require.Equal(t, stateDB, sha(t, "/var/lib/edgegw/state.db"))
	require.Equal(t, stateKey, sha(t, "/var/lib/edgegw/state.key"))
	owner("/var/lib/edgegw", os.ModeDir|0o700, uid, gid)
	runDaemon(t, uid, gid) // the new version opens the old state

	// Remove: the program goes, configuration and state stay.
	t.Log(run(t, nil, "dpkg", "--remove", "edgegw"))
	for _, gone := range []string{"/usr/bin/edgegw", "/lib/systemd/system/edgegw.service", "/usr/share/edgegw"} {
		_, err := os.Stat(gone)
		require.ErrorIs(t, err, os.ErrNotExist, gone)
	}
	require.Equal(t, siteConfig, sha(t, "/etc/edgegw/edgegw.toml"))
	require.FileExists(t, "/etc/edgegw/gateway.key")
	require.FileExists(t, "/var/lib/edgegw/state.db")
	require.FileExists(t, "/var/lib/edgegw/state.key")
	require.Contains(t, run(t, nil, "dpkg-query", "-W", "-f", "${Status}", "edgegw"), "config-files")

	// Purge: configuration and state go too.
	t.Log(run(t, nil, "dpkg", "--purge", "edgegw"))
	for _, gone := range []string{"/etc/edgegw", "/var/lib/edgegw"} {
		_, err := os.Stat(gone)
		require.ErrorIs(t, err, os.ErrNotExist, gone)
	}
}

// asUser runs a command as uid:gid (as systemd's User= would) and returns its output.
func asUser(t *testing.T, uid, gid int, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, env...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s %s:\n%s", name, strings.Join(args, " "), out)
	return string(out)
}

// runDaemon starts /usr/bin/edgegw run as the service's user with a notify socket of the test's, waits
// for READY=1, stops it with SIGTERM and waits for STOPPING=1 and a clean exit.
func runDaemon(t *testing.T, uid, gid int) {
	t.Helper()
	sock := fmt.Sprintf("@edgegw-package-test-%d", os.Getpid()) // abstract: no file permissions to arrange
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	require.NoError(t, err)
	defer conn.Close()
	cmd := exec.Command("/usr/bin/edgegw", "run", "--config", "/etc/edgegw/edgegw.toml")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "NOTIFY_SOCKET=" + sock}
	cmd.Dir = "/"
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			cmd.Process.Kill() // ours, by its PID
			<-exited
		}
	}()
	next := func() string {
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(20*time.Second)))
		buf := make([]byte, 512)
		n, err := conn.Read(buf)
		require.NoError(t, err, "the daemon said nothing on the notify socket; its log:\n%s", logs.String())
		return string(buf[:n])
	}
	require.True(t, strings.HasPrefix(next(), "READY=1\n"), logs.String())
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, "STOPPING=1\n", next())
	select {
	case err := <-exited:
		stopped = true
		require.NoError(t, err, "the daemon's log:\n%s", logs.String())
	case <-time.After(15 * time.Second):
		t.Fatalf("the daemon did not stop within 15 s of SIGTERM; its log:\n%s", logs.String())
	}
	require.Contains(t, logs.String(), `"msg":"stopped cleanly"`)
}
