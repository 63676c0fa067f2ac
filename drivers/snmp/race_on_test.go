//go:build race

package snmp

// raceEnabled: under the race detector sync.Pool drops entries at random, so regexp matching allocates.
const raceEnabled = true
