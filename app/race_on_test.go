//go:build race

package app_test

// raceCost is the bcrypt cost of the revocation race tests. The race detector makes bcrypt
// about twenty times slower, so cost 6 under it opens about the window cost 10 opens without.
const raceCost = "6"
