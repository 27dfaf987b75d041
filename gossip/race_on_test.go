//go:build race

package gossip

// raceEnabled reports whether the race detector is on; it slows memberlist
// five- to tenfold, which the scale test must allow for.
const raceEnabled = true
