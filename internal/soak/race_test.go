//go:build unix && race

package soak_test

// raceEnabled: the test runs with the race detector, and so does the chat
// process it starts.
const raceEnabled = true
