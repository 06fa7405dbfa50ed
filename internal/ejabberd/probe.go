package ejabberd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

const probeTimeout = 2 * time.Second

// streamHeader is the client stream header the readiness probe sends.
func streamHeader(domain string) string {
	return "<?xml version='1.0'?><stream:stream to='" + domain +
		"' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
}

// probeStream connects to addr, sends a stream header and waits for stream
// features, then closes the stream.
func probeStream(ctx context.Context, addr, domain string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
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
	if _, err := conn.Write([]byte(streamHeader(domain))); err != nil {
		return err
	}
	if _, err = readUntil(conn, "stream:features", "<features"); err != nil {
		return err
	}
	if _, err := conn.Write([]byte("</stream:stream>")); err == nil {
		_, _ = io.Copy(io.Discard, conn)
	}
	return nil
}

// readUntil reads from r until the data read so far contains one of the
// markers and returns it all. It gives up after 64 KiB, on a read error, or
// when the peer sends a stream error.
func readUntil(r io.Reader, markers ...string) ([]byte, error) {
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
