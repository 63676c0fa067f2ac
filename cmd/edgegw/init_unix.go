//go:build unix

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// The packaged layout: configuration in /etc/edgegw, state in /var/lib/edgegw, user edgegw.
const (
	packagedDir        = "/etc/edgegw"
	packagedUser       = "edgegw"
	defaultAccountHint = "edgegw when run as root and that user exists, else the current user"
	startHint          = "systemctl enable --now edgegw"
	elevateHint        = "run it as root: sudo edgegw init ..."
)

func defaultInitDir() string { return packagedDir }

// initLayout is where a starting configuration in dir puts the state and the site's profiles: the
// packaged places for the packaged directory, else beside the configuration (relative to it).
func initLayout(dir string) (stateDir, profilesDir string) {
	if filepath.Clean(dir) == packagedDir {
		return starterStateDir, starterProfilesDir
	}
	return "state", "profiles"
}

// lookupAccount finds the account the gateway runs as: name, or by default the packaged user when
// root can give files to it, else the current user (who can give files to no one else). making says
// files are to be made for it, which only root can do for another user.
func lookupAccount(name string, making bool) (*account, string, error) {
	root := os.Geteuid() == 0
	note := ""
	if name == "" {
		_, err := user.Lookup(packagedUser)
		switch {
		case err == nil && (root || !making):
			name = packagedUser
		default:
			cur, cerr := user.Current()
			if cerr != nil {
				return nil, "", fmt.Errorf("who am I: %w", cerr)
			}
			if err != nil {
				note = fmt.Sprintf("there is no user %s here (the package makes it): checking for %s instead; see --user", packagedUser, cur.Username)
				if making {
					note = fmt.Sprintf("there is no user %s here (the package makes it): the key is for %s; see --user", packagedUser, cur.Username)
				}
			}
			name = cur.Username
		}
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, "", fmt.Errorf("the gateway's user %q: %w", name, err)
	}
	a := &account{name: u.Username}
	a.uid, _ = strconv.Atoi(u.Uid)
	a.gid, _ = strconv.Atoi(u.Gid)
	gids, _ := u.GroupIds()
	a.gids = append(a.gids, a.gid)
	for _, g := range gids {
		if n, err := strconv.Atoi(g); err == nil && n != a.gid {
			a.gids = append(a.gids, n)
		}
	}
	if making && !root && a.uid != os.Geteuid() {
		return nil, "", fmt.Errorf("only root can make files for %s: run edgegw init as root, or leave out --user", a.name)
	}
	return a, note, nil
}

// makeConfigDir makes the configuration directory: root's, with the gateway's group, 0750.
func makeConfigDir(dir string, acct *account) error { return makeDir(dir, 0o750, acct, false) }

// makeDir makes dir (and its parents) with mode when missing. A new directory belongs to the gateway's
// account when owned is set (its state), else to root with the account's group (configuration).
func makeDir(dir string, mode fs.FileMode, acct *account, owned bool) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	}
	if err := os.MkdirAll(dir, mode); err != nil {
		return err
	}
	if err := os.Chmod(dir, mode); err != nil { // past the umask
		return err
	}
	if owned {
		return ownKey(dir, acct)
	}
	return ownConfig(dir, acct)
}

// ownConfig gives a configuration file or directory to root and the gateway's group, when root.
func ownConfig(path string, acct *account) error {
	if os.Geteuid() != 0 {
		return nil
	}
	return os.Chown(path, 0, acct.gid)
}

// ownKey gives a file to the gateway's account, when root (else it is the current user's already).
func ownKey(path string, acct *account) error {
	if os.Geteuid() != 0 {
		return nil
	}
	return os.Chown(path, acct.uid, acct.gid)
}

// copyOwner gives path the owner and group of fi, when root.
func copyOwner(fi fs.FileInfo, path string) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || os.Geteuid() != 0 {
		return nil
	}
	return os.Chown(path, int(st.Uid), int(st.Gid))
}

// ownerOnly checks that a file is the account's and nobody else can read or write it.
func ownerOnly(fi fs.FileInfo, acct *account) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return errors.New("cannot read its owner")
	}
	var errs []error
	if int(st.Uid) != acct.uid {
		errs = append(errs, fmt.Errorf("owned by %s, not %s (chown %s)", userName(int(st.Uid)), acct.name, acct.name))
	}
	if p := fi.Mode().Perm(); p&0o077 != 0 {
		errs = append(errs, fmt.Errorf("mode %04o lets others than its owner read it (chmod 600)", p))
	}
	return errors.Join(errs...)
}

// readableBy checks that the account can read a file by its mode bits.
func readableBy(fi fs.FileInfo, acct *account) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	p := fi.Mode().Perm()
	switch {
	case acct.uid == 0, int(st.Uid) == acct.uid && p&0o400 != 0, p&0o004 != 0:
		return nil
	case p&0o040 != 0:
		for _, g := range acct.gids {
			if g == int(st.Gid) {
				return nil
			}
		}
	}
	return fmt.Errorf("%s cannot read it (owner %s, group %d, mode %04o)", acct.name, userName(int(st.Uid)), st.Gid, p)
}

func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return "uid " + strconv.Itoa(uid)
}
