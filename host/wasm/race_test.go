//go:build race

package wasm

// raceEnabled: allocation counts are not meaningful under the race detector.
const raceEnabled = true
