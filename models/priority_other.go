//go:build !linux

package models

import (
	"errors"
	"syscall"
)

// lowerThreadPriority is Linux-only; elsewhere bcrypt runs at normal priority.
func lowerThreadPriority(int) error {
	return errors.New("per-thread priority is only supported on Linux")
}

// childSysProcAttr: sessions and autogroups are Linux's; elsewhere the child starts plainly.
func childSysProcAttr() *syscall.SysProcAttr { return nil }

// lowerSessionPriority is Linux-only (autogroup).
func lowerSessionPriority(int) {}

// lowerProcessPriority is Linux-only (per-thread niceness); elsewhere the child runs at
// normal priority.
func lowerProcessPriority(int) error { return nil }
