//go:build !linux

package sim

import "errors"

func inNetns(string, func() error) error {
	return errors.New("mDNS responders need Linux network namespaces")
}
