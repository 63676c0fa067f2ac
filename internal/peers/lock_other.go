//go:build !unix

package peers

import "testing"

// Lock does nothing where there is no flock: the peers kit runs on Linux only.
func Lock(t testing.TB, name string) {}
