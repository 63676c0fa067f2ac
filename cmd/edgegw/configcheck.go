package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/edgegw/edgegw/config"
)

// cmdConfigCheck loads the configuration and the profiles it names, prints "ok" or every error, and
// prints warnings (secret files readable by others) either way.
func cmdConfigCheck(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("config check", "edgegw config check --config FILE", stdout)
	cfgPath := fs.String("config", "", "configuration file (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *cfgPath == "" {
		return usagef("edgegw config check: --config FILE is required")
	}
	cfg, err := config.Load(*cfgPath, protocols().tableCodecs()...)
	if err != nil {
		var es config.Errors
		if errors.As(err, &es) {
			for _, e := range es {
				fmt.Fprintln(stdout, config.RedactURLs(e.Error()))
			}
			return errSilent
		}
		fmt.Fprintln(stdout, config.RedactURLs(err.Error()))
		return errSilent
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintln(stdout, "warning:", w)
	}
	if _, err := protocols().loadProfiles(cfg.Profiles.Dirs); err != nil {
		fmt.Fprintln(stdout, config.RedactURLs(err.Error()))
		return errSilent
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}
