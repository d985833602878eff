//go:build race

package app_test

// raceEnabled: the race detector makes sync.Pool drop a share of what is put back, on purpose,
// so pooled buffers are allocated again and allocation counts run higher.
const raceEnabled = true
