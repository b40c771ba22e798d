package ui

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind: the browser
// test's Chromium connection included.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
