//go:build !unix

package peers

import "testing"

// Lock does nothing where there is no flock: the peers (scripts/peers) run on Linux only.
func Lock(t testing.TB, name string) {}
