package cluster_test

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// checkLoopbackOnly fails the test if any of the processes listens on an
// address other than loopback, and if none of them listens on restPort. It
// matches the processes' socket inodes (/proc/PID/fd) against the listening
// sockets in /proc/net/tcp and tcp6, so it needs Linux.
func checkLoopbackOnly(t *testing.T, pids map[string]int, restPort int) {
	t.Helper()
	listeners := map[string]netAddr{} // socket inode -> local address
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		for inode, a := range listening(t, f) {
			listeners[inode] = a
		}
	}
	sawRest := false
	for name, pid := range pids {
		fds, err := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "fd", "*"))
		if err != nil || len(fds) == 0 {
			t.Fatalf("cannot list the sockets of %s (pid %d): %v", name, pid, err)
		}
		n := 0
		for _, fd := range fds {
			link, err := os.Readlink(fd)
			if err != nil || !strings.HasPrefix(link, "socket:[") {
				continue
			}
			a, ok := listeners[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")]
			if !ok {
				continue
			}
			n++
			if !a.ip.IsLoopback() {
				t.Errorf("%s (pid %d) listens on %s:%d, not on loopback", name, pid, a.ip, a.port)
			}
			if a.port == restPort && name == "jobmanager" {
				sawRest = true
			}
		}
		t.Logf("%s (pid %d): %d listening sockets, all checked", name, pid, n)
	}
	if !sawRest {
		t.Errorf("the jobmanager does not listen on the REST port %d", restPort)
	}
}

type netAddr struct {
	ip   net.IP
	port int
}

// listening parses /proc/net/tcp or tcp6: the LISTEN sockets by inode.
func listening(t *testing.T, file string) map[string]netAddr {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]netAddr{}
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[3] != "0A" { // 0A: TCP_LISTEN
			continue
		}
		ipHex, portHex, ok := strings.Cut(fields[1], ":")
		if !ok {
			continue
		}
		raw, err := hex.DecodeString(ipHex)
		if err != nil || (len(raw) != 4 && len(raw) != 16) {
			t.Fatalf("%s: bad address %q", file, fields[1])
		}
		// The kernel prints each 32-bit word in host (little-endian) order.
		ip := make(net.IP, len(raw))
		for i := 0; i < len(raw); i += 4 {
			binary.BigEndian.PutUint32(ip[i:], binary.LittleEndian.Uint32(raw[i:]))
		}
		port, _ := strconv.ParseUint(portHex, 16, 16)
		out[fields[9]] = netAddr{ip: ip, port: int(port)}
	}
	return out
}
