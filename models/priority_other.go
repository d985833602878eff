//go:build !linux

package models

import "errors"

// lowerThreadPriority is Linux-only; elsewhere bcrypt runs at normal priority.
func lowerThreadPriority(int) error {
	return errors.New("per-thread priority is only supported on Linux")
}
