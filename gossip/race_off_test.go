//go:build !race

package gossip

// raceEnabled reports whether the race detector is on.
const raceEnabled = false
