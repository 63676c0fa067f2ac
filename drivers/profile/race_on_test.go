//go:build race

package profile

// raceEnabled: under the race detector sync.Pool drops entries at random, so regexp matching allocates.
const raceEnabled = true
