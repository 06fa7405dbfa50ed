package netlab

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// tcpEstablished is the state column of /proc/net/tcp for ESTABLISHED.
const tcpEstablished = "01"

// Flows returns the established TCP connections of process pid to port
// (over IPv4), from /proc: the sockets among its open files, looked up in
// its namespace's /proc/PID/net/tcp.
func Flows(pid, port int) ([]Flow, error) {
	inodes, err := socketInodes(pid)
	if err != nil {
		return nil, err
	}
	path := fmt.Sprintf("/proc/%d/net/tcp", pid)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("netlab: %w", err)
	}
	defer f.Close()
	flows, err := parseTCP(bufio.NewScanner(f), inodes, port)
	if err != nil {
		return nil, fmt.Errorf("netlab: %s: %w", path, err)
	}
	return flows, nil
}

// socketInodes returns the inodes of the sockets process pid has open.
func socketInodes(pid int) (map[string]bool, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("netlab: %w", err)
	}
	inodes := map[string]bool{}
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		if ino, ok := strings.CutPrefix(target, "socket:["); ok {
			inodes[strings.TrimSuffix(ino, "]")] = true
		}
	}
	return inodes, nil
}

// parseTCP reads /proc/net/tcp lines ("sl local rem st … uid timeout
// inode …", addresses as hex IP:port) and returns the established ones of
// the sockets in inodes whose remote port is port.
func parseTCP(sc *bufio.Scanner, inodes map[string]bool, port int) ([]Flow, error) {
	var flows []Flow
	first := true
	for sc.Scan() {
		if first { // the header
			first = false
			continue
		}
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			return nil, fmt.Errorf("short line %q", sc.Text())
		}
		if fields[3] != tcpEstablished || !inodes[fields[9]] {
			continue
		}
		local, err := hexPort(fields[1])
		if err != nil {
			return nil, err
		}
		remote, err := hexPort(fields[2])
		if err != nil {
			return nil, err
		}
		if remote == port {
			flows = append(flows, Flow{Local: local, Remote: remote})
		}
	}
	return flows, sc.Err()
}

// hexPort returns the port of a /proc/net/tcp address ("0100007F:1F90").
func hexPort(addr string) (int, error) {
	_, p, ok := strings.Cut(addr, ":")
	if !ok {
		return 0, fmt.Errorf("address %q has no port", addr)
	}
	n, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return 0, fmt.Errorf("address %q: %w", addr, err)
	}
	return int(n), nil
}
