package netlab

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
)

// table is the nftables table a Lab owns in its namespace.
const table = "xmppbg_netlab"

// Lab is the namespace a test runs in (see Run), and its fault rules.
// Its methods are safe for concurrent use: parallel subtests can break
// their own flows in one lab.
type Lab struct {
	ns   string
	next atomic.Int64 // numbers the faults' chains
}

// Fault is the rules one call of Blackhole or Reset added: a base chain of
// its own on the input hook, so that removing it leaves the other faults
// in place.
type Fault struct {
	chain string
	flows []Flow
}

// Flow is one TCP connection over the lab's loopback, by its ports.
type Flow struct {
	// Local is the port of the end whose connections were asked for (the
	// client's ephemeral port).
	Local int
	// Remote is the port it is connected to (the server's).
	Remote int
}

func (f Flow) String() string { return fmt.Sprintf("127.0.0.1:%d <-> 127.0.0.1:%d", f.Local, f.Remote) }

// open returns the Lab of namespace ns, with its table made afresh.
func open(ns string) (*Lab, error) {
	// Rules are only ever added inside the lab: refuse to run anywhere
	// else (an XMPPBG_NETLAB set by hand, say).
	self, err := os.Stat("/proc/self/ns/net")
	if err != nil {
		return nil, fmt.Errorf("netlab: %w", err)
	}
	named, err := os.Stat("/run/netns/" + ns)
	if err != nil || !os.SameFile(self, named) {
		return nil, fmt.Errorf("netlab: this process is not in network namespace %s (%s=%s set outside a lab?)", ns, envLab, ns)
	}
	l := &Lab{ns: ns}
	if err := l.Clear(); err != nil {
		return nil, err
	}
	return l, nil
}

// Namespace is the name of the lab's network namespace.
func (l *Lab) Namespace() string { return l.ns }

// Blackhole drops every packet of the flows, both ways, from now on: the
// ends keep their sockets open and hear nothing (a NAT that forgot the
// flow). Data written into one is retransmitted by the kernel until
// TCP_USER_TIMEOUT or the retransmission limit gives up.
func (l *Lab) Blackhole(flows ...Flow) (*Fault, error) { return l.add("drop", flows) }

// Reset answers every packet of the flows, both ways, from now on with a
// TCP RST to its sender (reject with tcp reset): each end learns that the
// connection is gone when it next sends on it.
func (l *Lab) Reset(flows ...Flow) (*Fault, error) { return l.add("reject with tcp reset", flows) }

// Remove takes the fault's rules away: its flows pass again (a black-holed
// one then delivers what the kernel retransmits).
func (f *Fault) Remove() error {
	return nft(fmt.Sprintf("flush chain inet %[1]s %[2]s\ndelete chain inet %[1]s %[2]s\n", table, f.chain))
}

func (f *Fault) String() string { return fmt.Sprintf("%s on %v", f.chain, f.flows) }

// Clear removes every fault of the lab.
func (l *Lab) Clear() error {
	// Deleting a table that is not there fails: make it first.
	return nft(fmt.Sprintf("add table inet %[1]s\ndelete table inet %[1]s\nadd table inet %[1]s\n", table))
}

// Rules returns the lab's ruleset as nft lists it, for a failed test's log.
func (l *Lab) Rules() string {
	out, err := exec.Command("nft", "list", "table", "inet", table).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("nft list: %v: %s", err, out)
	}
	return string(out)
}

func (l *Lab) add(verdict string, flows []Flow) (*Fault, error) {
	if len(flows) == 0 {
		return nil, errors.New("netlab: no flow given")
	}
	f := &Fault{chain: fmt.Sprintf("fault%d", l.next.Add(1)), flows: flows}
	var b strings.Builder
	fmt.Fprintf(&b, "add chain inet %s %s { type filter hook input priority 0; policy accept; }\n", table, f.chain)
	for _, fl := range flows {
		for _, ports := range [][2]int{{fl.Local, fl.Remote}, {fl.Remote, fl.Local}} {
			fmt.Fprintf(&b, "add rule inet %s %s ip saddr 127.0.0.1 ip daddr 127.0.0.1 tcp sport %d tcp dport %d ct state established %s\n",
				table, f.chain, ports[0], ports[1], verdict)
		}
	}
	if err := nft(b.String()); err != nil {
		return nil, err
	}
	return f, nil
}

// nft runs an nft script in the current namespace (the lab's: only the
// inner test binary, which runs in it, has a Lab). The script is applied
// atomically: all of it or nothing.
func nft(script string) error {
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("netlab: nft: %v: %s\nscript:\n%s", err, bytes.TrimSpace(out), script)
	}
	return nil
}
