//go:build race

package app_test

// raceEnabled: the race detector makes sync.Pool drop a share of what is put back, on purpose,
// so pooled buffers are allocated again and allocation counts run higher.
const raceEnabled = true

// raceCost is the bcrypt cost of the revocation race tests. The race detector makes bcrypt
// about twenty times slower; at cost 6 under it some rounds still closed the window (every login
// done before the revocation returned), so 7 leaves a margin.
const raceCost = "7"
