package kubelet

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Listening reports which TCP and UDP ports have a socket bound in the
// network namespace of pid: readiness without sending a packet, so
// policies cannot make a pod look unready.
func Listening(pid int) (tcp, udp map[int32]bool) {
	tcp, udp = map[int32]bool{}, map[int32]bool{}
	read := func(file string, into map[int32]bool, wantState string) {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, file))
		if err != nil {
			return
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 4 || (wantState != "" && fields[3] != wantState) {
				continue
			}
			local := fields[1]
			i := strings.LastIndexByte(local, ':')
			if i < 0 {
				continue
			}
			if port, err := strconv.ParseInt(local[i+1:], 16, 32); err == nil {
				into[int32(port)] = true
			}
		}
	}
	read("tcp", tcp, "0A") // LISTEN
	read("tcp6", tcp, "0A")
	read("udp", udp, "")
	read("udp6", udp, "")
	return tcp, udp
}

// Alive reports whether a process with this PID exists.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// KillGroup stops a container's process group: TERM, then KILL after grace.
func KillGroup(pid int, grace time.Duration) {
	if pid <= 0 {
		return
	}
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !Alive(pid) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = syscall.Kill(pid, syscall.SIGKILL)
}
