package suspend_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xmppbg/xmppbg/suspend"
)

// netChildEnv selects the helper mode of this test binary: a process in a
// network namespace of its own that runs a detector and changes its own
// network until the detector notices.
const netChildEnv = "XMPPBG_NETWATCH_CHILD"

// setLoopbackAddr adds (or removes) 10.9.9.1/32 on lo (index 1) through
// route netlink, and waits for the kernel's answer.
func setLoopbackAddr(add bool) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	typ, flags := uint16(unix.RTM_DELADDR), uint16(unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	if add {
		typ, flags = unix.RTM_NEWADDR, flags|unix.NLM_F_CREATE|unix.NLM_F_EXCL
	}
	ip := []byte{10, 9, 9, 1}
	attr := func(t uint16) []byte {
		b := make([]byte, 8)
		binary.NativeEndian.PutUint16(b[0:2], 8)
		binary.NativeEndian.PutUint16(b[2:4], t)
		copy(b[4:], ip)
		return b
	}
	// struct ifaddrmsg: family, prefixlen, flags, scope, index (u32).
	body := []byte{unix.AF_INET, 32, 0, 0, 1, 0, 0, 0}
	binary.NativeEndian.PutUint32(body[4:8], 1)
	body = append(body, attr(unix.IFA_LOCAL)...)
	body = append(body, attr(unix.IFA_ADDRESS)...)
	msg := make([]byte, unix.NLMSG_HDRLEN, unix.NLMSG_HDRLEN+len(body))
	binary.NativeEndian.PutUint32(msg[0:4], uint32(unix.NLMSG_HDRLEN+len(body)))
	binary.NativeEndian.PutUint16(msg[4:6], typ)
	binary.NativeEndian.PutUint16(msg[6:8], flags)
	binary.NativeEndian.PutUint32(msg[8:12], 1)
	msg = append(msg, body...)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	buf := make([]byte, 4096)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return err
	}
	msgs, err := syscall.ParseNetlinkMessage(buf[:n])
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if m.Header.Type == unix.NLMSG_ERROR && len(m.Data) >= 4 {
			if code := int32(binary.NativeEndian.Uint32(m.Data[0:4])); code != 0 {
				return syscall.Errno(-code)
			}
		}
	}
	return nil
}

// TestNetworkChildHelper is the child's body; it does nothing in a normal run.
func TestNetworkChildHelper(t *testing.T) {
	if os.Getenv(netChildEnv) == "" {
		t.Skip("helper process for TestDetectorNoticesNetworkChange")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	d := suspend.NewDetector(suspend.DetectorOptions{Interval: time.Hour, NoSignal: true, Settle: 50 * time.Millisecond})
	go func() {
		// The detector subscribes as Run starts: change the network
		// until it has noticed (added, then removed: the removal
		// counts).
		for add := true; ctx.Err() == nil; add = !add {
			if err := setLoopbackAddr(add); err != nil {
				fmt.Println("error", err)
				cancel()
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	_ = d.Run(ctx, func(w suspend.Woke) {
		fmt.Println("woke", w.Cause)
		cancel()
	})
}

// A removed address is noticed, in a network namespace of the test's own
// (root, or an unprivileged user namespace, is needed to make one).
func TestDetectorNoticesNetworkChange(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestNetworkChildHelper$", "-test.v")
	cmd.Env = append(os.Environ(), netChildEnv+"=1")
	cmd.Stderr = os.Stderr
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	} else {
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWNET | syscall.CLONE_NEWUSER,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}},
		}
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("cannot make a network namespace: %v", err)
		}
		t.Skipf("cannot make a network namespace here (root or unprivileged user namespaces needed): %v", err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	lines := childLines(out)
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the child ended without noticing the change")
			}
			if strings.HasPrefix(l, "error ") {
				t.Fatalf("the child could not change its network: %s", l)
			}
			if strings.HasPrefix(l, "woke ") {
				if l != "woke network" {
					t.Fatalf("child said %q, want %q", l, "woke network")
				}
				return
			}
		case <-timeout:
			t.Fatal("no wake-up 30 s into the network changes")
		}
	}
}
