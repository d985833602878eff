package models

import "syscall"

// lowerThreadPriority sets the niceness of the calling OS thread (not the process: on Linux,
// PRIO_PROCESS with a thread id names one thread). Raising niceness needs no privilege.
func lowerThreadPriority(nice int) error {
	return syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), nice)
}
