//go:build race

package compress

// raceEnabled: the race detector makes sync.Pool drop items at random, so
// pool-dependent allocation counts are meaningless under it.
const raceEnabled = true
