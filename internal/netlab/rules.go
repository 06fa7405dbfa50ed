package netlab

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// table is the nftables table a Lab owns in its namespace.
const table = "xmppbg_netlab"

// Lab is the namespace a test runs in (see Run), and its fault rules.
type Lab struct {
	ns string
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
	// Deleting a table that is not there fails: make it first, so that
	// the script also works on a fresh namespace.
	script := fmt.Sprintf("add table inet %[1]s\ndelete table inet %[1]s\n"+
		"add table inet %[1]s\n"+
		"add chain inet %[1]s in { type filter hook input priority 0; policy accept; }\n", table)
	if err := nft(script); err != nil {
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
func (l *Lab) Blackhole(flows ...Flow) error { return l.add("drop", flows) }

// Reset answers every packet of the flows, both ways, from now on with a
// TCP RST to its sender (reject with tcp reset): each end learns that the
// connection is gone when it next sends on it.
func (l *Lab) Reset(flows ...Flow) error { return l.add("reject with tcp reset", flows) }

// Clear removes every rule: the flows named before pass again.
func (l *Lab) Clear() error {
	return nft(fmt.Sprintf("flush chain inet %s in\n", table))
}

// Rules returns the lab's ruleset as nft lists it, for a failed test's log.
func (l *Lab) Rules() string {
	out, err := exec.Command("nft", "list", "table", "inet", table).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("nft list: %v: %s", err, out)
	}
	return string(out)
}

func (l *Lab) add(verdict string, flows []Flow) error {
	if len(flows) == 0 {
		return errors.New("netlab: no flow given")
	}
	var b strings.Builder
	for _, f := range flows {
		for _, ports := range [][2]int{{f.Local, f.Remote}, {f.Remote, f.Local}} {
			fmt.Fprintf(&b, "add rule inet %s in ip saddr 127.0.0.1 ip daddr 127.0.0.1 tcp sport %d tcp dport %d ct state established %s\n",
				table, ports[0], ports[1], verdict)
		}
	}
	return nft(b.String())
}

// nft runs an nft script in the current namespace (the lab's: only the
// inner test binary, which runs in it, has a Lab).
func nft(script string) error {
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("netlab: nft: %v: %s\nscript:\n%s", err, bytes.TrimSpace(out), script)
	}
	return nil
}
