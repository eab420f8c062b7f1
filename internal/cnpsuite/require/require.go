// Package require is the part of testify's require and assert that
// network-policy-api's conformance tests and helpers call, so that the
// copies compile without testify.
package require

import (
	"fmt"
	"testing"
	"time"
)

// NoErrorf stops the test when err is not nil.
func NoErrorf(t testing.TB, err error, msg string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(msg, args...), err)
	}
}

// NoError stops the test when err is not nil.
func NoError(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Eventually stops the test unless cond holds within waitFor, checking
// every tick (and at once).
func Eventually(t testing.TB, cond func() bool, waitFor, tick time.Duration) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition never satisfied within %v", waitFor)
		}
		time.Sleep(tick)
	}
}

// True is testify's assert.True: it marks the test failed and goes on.
func True(t testing.TB, v bool) {
	t.Helper()
	if !v {
		t.Error("should be true")
	}
}
