package app_test

import (
	"os"
	"testing"

	"github.com/example/authapi/app/apptest"
)

// TestMain removes the binary the process-level fault tests built, once every test has run.
func TestMain(m *testing.M) {
	code := m.Run()
	apptest.RemoveBinary()
	os.Exit(code)
}
