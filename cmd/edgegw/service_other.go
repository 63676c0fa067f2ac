//go:build !windows

package main

import (
	"errors"
	"io"
)

var errNotWindows = errors.New("edgegw service is the Windows service; on Linux the packages install a systemd unit: systemctl enable --now edgegw (docs/install.md)")

func serviceInstall(string, string, io.Writer) error { return errNotWindows }
func serviceControl(string, io.Writer) error         { return errNotWindows }
func serviceRun(string) error                        { return errNotWindows }
