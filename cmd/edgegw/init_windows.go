//go:build windows

package main

import (
	"fmt"
	"io/fs"
	"os"
)

const (
	defaultAccountHint = `the service's account, NT SERVICE\` + serviceName
	startHint          = "edgegw service install, then edgegw service start"
	elevateHint        = "run it from an elevated prompt"
)

// defaultInitDir is %ProgramData%\edgegw.
func defaultInitDir() string { return programDataDir(os.Getenv) }

// initLayout puts the state and the site's profiles beside the configuration.
func initLayout(string) (stateDir, profilesDir string) { return "state", "profiles" }

// lookupAccount names the account; Windows files are guarded by the directory's ACL, not owners.
func lookupAccount(name string, _ bool) (*account, string, error) {
	if name == "" {
		name = serviceAccount
	}
	return &account{name: name, uid: -1, gid: -1}, "", nil
}

// makeConfigDir makes the configuration directory when missing and limits it to SYSTEM,
// Administrators and the service's account; what is made in it inherits that. An existing directory
// keeps its ACL: `edgegw service install` set it for the account the service runs as.
func makeConfigDir(dir string, acct *account) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	return secureDirFor(dir, acct.name)
}

// makeDir makes a directory inside the configuration directory, whose ACL it inherits.
func makeDir(dir string, mode fs.FileMode, acct *account, owned bool) error {
	return os.MkdirAll(dir, mode)
}

func ownConfig(string, *account) error       { return nil }
func ownKey(string, *account) error          { return nil }
func copyOwner(fs.FileInfo, string) error    { return nil }
func ownerOnly(fs.FileInfo, *account) error  { return nil }
func readableBy(fs.FileInfo, *account) error { return nil }
