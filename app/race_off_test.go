//go:build !race

package app_test

const raceEnabled = false

// raceCost is the bcrypt cost of the revocation race tests: about 70 ms a hash on an idle core
// (see race_on_test.go for runs under the race detector).
const raceCost = "10"
