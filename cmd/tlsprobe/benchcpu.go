package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CPU accounting for tlsprobe bench: the server's CPU per request tells its
// cost apart from the clients' on a machine where both share the cores.

// peerPID is the pid of the process serving a Unix socket (SO_PEERCRED);
// 0 when it cannot be known (TCP, or an error).
func peerPID(t *target) int {
	c, err := t.dial()
	if err != nil {
		return 0
	}
	defer c.Close()
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0
	}
	var pid int
	raw.Control(func(fd uintptr) {
		if cred, err := syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED); err == nil {
			pid = int(cred.Pid)
		}
	})
	if pid == os.Getpid() {
		return 0 // an in-process floor: its CPU is the clients'
	}
	return pid
}

// procCPU is the user+sys time of process pid (/proc/PID/stat, clock ticks
// of 1/100 s), or -1.
func procCPU(pid int) time.Duration {
	if pid <= 0 {
		return -1
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// The command name may hold spaces; the fields after it are fixed.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return -1
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64) // field 14, utime
	st, err2 := strconv.ParseInt(f[12], 10, 64) // field 15, stime
	if err1 != nil || err2 != nil {
		return -1
	}
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// selfCPU is this process's user+sys time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// perRequest is d in microseconds per request, or -1 when unknown.
func perRequest(d time.Duration, n int) float64 {
	if d < 0 || n == 0 {
		return -1
	}
	return round3(float64(d.Nanoseconds()) / 1e3 / float64(n))
}
