//go:build race

package server

// raceOn: the race detector slows the server ~10×; tests that do bulk work
// do less of it instead of depending on the machine's speed.
const raceOn = true
