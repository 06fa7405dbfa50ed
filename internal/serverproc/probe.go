package serverproc

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

const ProbeTimeout = 2 * time.Second

// StreamHeader is the client stream header the readiness probe sends.
func StreamHeader(domain string) string {
	return "<?xml version='1.0'?><stream:stream to='" + domain +
		"' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
}

// ProbeStream connects to addr (over TLS when pool is not nil), sends a
// stream header and waits for stream features.
func ProbeStream(ctx context.Context, addr, domain string, pool *x509.CertPool) error {
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	if pool != nil {
		tc := tls.Client(conn, &tls.Config{RootCAs: pool, ServerName: domain, NextProtos: []string{"xmpp-client"}})
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("tls handshake: %w", err)
		}
		conn = tc
	}
	if _, err := conn.Write([]byte(StreamHeader(domain))); err != nil {
		return err
	}
	if _, err = ReadUntil(conn, "stream:features", "<features"); err != nil {
		return err
	}
	// Close the stream and wait for the server to close its side, so that
	// the probe's session is gone when Start returns: a SIGTERM arriving
	// while Prosody still has a session makes its shutdown wait about 1 s.
	if _, err := conn.Write([]byte("</stream:stream>")); err == nil {
		_, _ = io.Copy(io.Discard, conn)
	}
	return nil
}

// ReadUntil reads from r until the data read so far contains one of the
// markers and returns it all. It gives up after 64 KiB, on a read error, or
// when the peer sends a stream error. It is meant for probes and tests, not
// for parsing XMPP.
func ReadUntil(r interface{ Read([]byte) (int, error) }, markers ...string) ([]byte, error) {
	var buf []byte
	chunk := make([]byte, 4096)
	for len(buf) < 64<<10 {
		n, err := r.Read(chunk)
		buf = append(buf, chunk[:n]...)
		for _, m := range markers {
			if bytes.Contains(buf, []byte(m)) {
				return buf, nil
			}
		}
		if bytes.Contains(buf, []byte("stream:error")) || bytes.Contains(buf, []byte("</stream:stream>")) {
			return buf, fmt.Errorf("stream closed by server: %q", buf)
		}
		if err != nil {
			return buf, fmt.Errorf("read: %w (got %q)", err, buf)
		}
	}
	return buf, errors.New("no stream features in the first 64 KiB")
}

// FreePorts asks the kernel for n distinct free TCP ports on host.
func FreePorts(host string, n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer l.Close() // held until all are chosen, so they differ
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
