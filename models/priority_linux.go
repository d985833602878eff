package models

import (
	"errors"
	"os"
	"strconv"
	"syscall"
)

// lowerThreadPriority sets the niceness of the calling OS thread (not the process: on Linux,
// PRIO_PROCESS with a thread id names one thread). Raising niceness needs no privilege.
func lowerThreadPriority(nice int) error {
	return syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), nice)
}

// childSysProcAttr starts the bcrypt child in a session of its own, so in its own autogroup,
// and has the kernel SIGKILL it when its parent ends (Pdeathsig: when the forking thread ends,
// hence the spawner thread), so that a service that is SIGKILLed leaves no child finishing its
// hashes; closing stdin alone let it finish every hash in flight first.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
}

// lowerSessionPriority sets the niceness of this process's autogroup (its session's share of
// the CPU against other sessions). Raising it needs no privilege; where autogroup is off or
// compiled out the file is absent or ignored, and thread niceness alone does the ranking.
func lowerSessionPriority(nice int) {
	_ = os.WriteFile("/proc/self/autogroup", []byte(strconv.Itoa(nice)), 0)
}

// lowerProcessPriority sets the niceness of every thread of this process. A thread inherits
// its creator's niceness, so once all are lowered the runtime's later threads are too; the
// list is read until a pass finds none left to lower, in case the runtime started one
// meanwhile from a thread not yet lowered.
func lowerProcessPriority(nice int) error {
	for range 10 {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		lowered := 0
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			// getpriority returns 20 - nice on Linux (the raw syscall's convention).
			if prio, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid); err == nil && 20-prio == nice {
				continue
			}
			if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, nice); err != nil && !errors.Is(err, syscall.ESRCH) {
				return err
			}
			lowered++
		}
		if lowered == 0 {
			return nil
		}
	}
	return errors.New("threads kept appearing at another priority")
}
