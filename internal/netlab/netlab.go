// Package netlab makes kernel-level network faults for tests: a private
// network namespace made by the test, in which the test's servers and
// clients run as child processes, and nftables rules that black-hole
// (drop) or reset (reject with tcp reset) the established TCP flows the
// test names, while new connections pass: a NAT or a carrier that lost the
// flow, seen by the kernel, not simulated by a proxy.
//
// It is test-only (it needs root, iproute2 and nftables, and runs the test
// binary again); internal/tiers_test.go keeps it out of the binary.
//
// # How a test gets into a namespace
//
// Run(t, f) made from a test that is not in a lab yet creates a network
// namespace (ip netns add, loopback up), runs the test binary again inside
// it (ip netns exec) with -test.run selecting only this test, and reports
// that run's output and result as the test's own. In the inner run, Run
// calls f with a Lab. Everything f starts (a Prosody, an ejabberd, an
// xmppbg process) is a child of the inner test binary and so lives in the
// namespace, on its own loopback: no other test's server or connection is
// in it, and no rule reaches outside it. The namespace is deleted at the
// end. The servers listen on 127.0.0.1 (their certificates name it), so
// everything talks over the namespace's loopback; a veth pair would add
// nothing the rules need.
//
// Without root, without the ip or nft command, or where a namespace cannot
// be made, Run skips the test with the reason, except under CI=true, where
// it fails it: CI must run the kernel-level faults.
//
// # Rules
//
// A Lab owns one nftables table (inet xmppbg_netlab) in its namespace. On
// the loopback every packet passes the input hook once, so one rule per
// direction and flow covers both ends. Blackhole and Reset add rules for the
// flows given (the 4-tuple: loopback address and both ports, ct state
// established) in a base chain of their own on the input hook, a Fault that
// Remove takes away without touching the others (parallel subtests share a
// lab); a connection made afterwards has another local port and passes.
// Flows finds a process's established connections to a port, from /proc.
package netlab

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// envLab names the namespace the inner test binary runs in.
const envLab = "XMPPBG_NETLAB"

// innerTimeout bounds the inner test run when the outer test has no
// deadline.
const innerTimeout = 5 * time.Minute

// seq numbers the namespaces this process makes.
var seq atomic.Int64

// Run runs f for t in a private network namespace (see the package doc):
// called outside a lab, it makes the namespace and runs this test again
// inside it; called inside, it runs f. Call it from the test's top level,
// before anything the test starts, since only f runs in the namespace.
func Run(t *testing.T, f func(t *testing.T, lab *Lab)) {
	t.Helper()
	if ns := os.Getenv(envLab); ns != "" {
		lab, err := open(ns)
		if err != nil {
			t.Fatalf("netlab: in namespace %s: %v", ns, err)
		}
		t.Cleanup(func() {
			if err := lab.Clear(); err != nil {
				t.Errorf("netlab: %v", err)
			}
		})
		f(t, lab)
		return
	}
	if why := unavailable(); why != "" {
		skip(t, why)
	}
	removeStale()
	ns := fmt.Sprintf("%s%d-%d", nsPrefix, os.Getpid(), seq.Add(1))
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		skip(t, fmt.Sprintf("ip netns add %s: %v: %s", ns, err, bytes.TrimSpace(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("netlab: ip netns del %s: %v: %s", ns, err, bytes.TrimSpace(out))
		}
	})
	if out, err := exec.Command("ip", "-n", ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("netlab: loopback up in %s: %v: %s", ns, err, bytes.TrimSpace(out))
	}
	runInner(t, ns)
}

// nsPrefix begins the names of the namespaces Run makes, followed by the
// making process's pid.
const nsPrefix = "xmppbg-"

// removeStale deletes the namespaces left behind by test processes that
// died before their cleanup (killed by a timeout, say): those whose maker
// no longer exists. A namespace of a live process is left alone.
func removeStale() {
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), nsPrefix)
		if !ok {
			continue
		}
		pid, _, ok := strings.Cut(rest, "-")
		if !ok || strings.Trim(pid, "0123456789") != "" {
			continue
		}
		if _, err := os.Stat("/proc/" + pid); err == nil {
			continue // its maker runs (or the pid was reused): not ours to judge
		}
		_ = exec.Command("ip", "netns", "del", e.Name()).Run()
	}
}

// runInner runs this test again in ns and makes its result the test's.
func runInner(t *testing.T, ns string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatalf("netlab: the test binary: %v", err)
	}
	timeout := innerTimeout
	if d, ok := t.Deadline(); ok {
		timeout = time.Until(d) - 5*time.Second
	}
	args := []string{"netns", "exec", ns, self,
		"-test.run", runPattern(t.Name()), "-test.v", "-test.count=1",
		"-test.timeout", timeout.Round(time.Second).String()}
	cmd := exec.Command("ip", args...)
	cmd.Env = append(os.Environ(), envLab+"="+ns)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("netlab: the test ran in network namespace %s (%v):\n%s", ns, time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		t.Fatalf("netlab: the test failed in network namespace %s: %v", ns, err)
	}
	if !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("netlab: the run in namespace %s did not pass %s", ns, t.Name())
	}
}

// runPattern is the -test.run pattern of the inner run: exactly the test
// name (a subtest's elements separated by /), followed by what the outer
// run's own pattern asks of the levels below it, if anything, so that
// -run 'TestX/sub' runs the same subtests inside.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	if f := flag.Lookup("test.run"); f != nil {
		if outer := strings.Split(f.Value.String(), "/"); len(outer) > len(parts) {
			parts = append(parts, outer[len(parts):]...)
		}
	}
	return strings.Join(parts, "/")
}

// unavailable says why this machine cannot make a lab, or "".
func unavailable() string {
	if os.Geteuid() != 0 {
		return "kernel-level faults need root (a network namespace and nftables rules)"
	}
	for _, c := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(c); err != nil {
			pkg := map[string]string{"ip": "iproute2", "nft": "nftables"}[c]
			return fmt.Sprintf("the %s command is missing: apt-get install -y %s (scripts/setup.sh does)", c, pkg)
		}
	}
	return ""
}

// skip skips t with why, or fails it under CI=true.
func skip(t *testing.T, why string) {
	t.Helper()
	why = "netlab: " + why
	if os.Getenv("CI") == "true" {
		t.Fatal(why + "; kernel-level fault tests never skip under CI")
	}
	t.Skip(why)
}
