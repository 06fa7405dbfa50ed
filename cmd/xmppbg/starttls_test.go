package main

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// A server that offers STARTTLS without <required/> and then refuses it must
// not get the message in plaintext, and send must fail with exit 4 (no
// trusted TLS), at once, saying why.
func TestSendRefusesSTARTTLSDowngrade(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- ""
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		r := bufio.NewReader(c)
		var seen strings.Builder
		read := func(until string) bool {
			for !strings.Contains(seen.String(), until) {
				b, err := r.ReadByte()
				if err != nil {
					return false
				}
				seen.WriteByte(b)
			}
			return true
		}
		if read(">") {
			fmt.Fprint(c, `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='x' from='localhost' version='1.0'><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>`)
			if read("<starttls") {
				fmt.Fprint(c, `<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
			}
		}
		// Record whatever else comes until the client hangs up.
		for {
			b, err := r.ReadByte()
			if err != nil {
				break
			}
			seen.WriteByte(b)
		}
		got <- seen.String()
	}()

	start := time.Now()
	res := runXmppbg(t.Context(), map[string]string{envPassword: "hunter2-secret"},
		"send", "--jid", "alice@localhost", "--addr", ln.Addr().String(), "bob@localhost", "top secret body")
	if res.code != exitCert {
		t.Fatalf("exit %d, want %d (no trusted TLS); stderr: %s", res.code, exitCert, res.stderr)
	}
	if !strings.Contains(res.stderr, "refused STARTTLS") || !strings.Contains(res.stderr, "never continues without TLS") {
		t.Errorf("stderr does not say the server refused STARTTLS: %q", res.stderr)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("send took %v", d)
	}
	wire := <-got
	for _, leak := range []string{"top secret body", "<auth", "<presence", "<message"} {
		if strings.Contains(wire, leak) {
			t.Errorf("sent %q in plaintext:\n%s", leak, wire)
		}
	}
}
