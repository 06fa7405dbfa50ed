// Package echotest is test-only scaffolding for the proxy tests: a TCP echo
// server on loopback and the small helpers that drive a connection through
// a proxy to it. Only _test.go files import it.
package echotest

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// Server is a TCP echo server on 127.0.0.1 that counts the connections
// it has seen end.
type Server struct {
	Addr   string
	Closed atomic.Int64
}

// Start starts a Server for the test and stops it, and the connections it
// accepted, at the end of the test.
func Start(t *testing.T) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: ln.Addr().String()}
	done := make(chan struct{})
	var conns []net.Conn
	connsCh := make(chan net.Conn)
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			connsCh <- c
			go func() {
				_, _ = io.Copy(c, c)
				_ = c.Close()
				s.Closed.Add(1)
			}()
		}
	}()
	go func() {
		for c := range connsCh {
			conns = append(conns, c)
		}
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		close(connsCh)
	})
	return s
}

// Dial connects to addr within a second, for the test's lifetime.
func Dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("Dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// RoundTrip writes msg and reads it back, returning how long it took.
func RoundTrip(t *testing.T, c net.Conn, msg string) time.Duration {
	t.Helper()
	start := time.Now()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read: %v", err)
	}
	if string(buf) != msg {
		t.Fatalf("echo = %q, want %q", buf, msg)
	}
	return time.Since(start)
}

// ReadErr reads once with a deadline and returns the error.
func ReadErr(c net.Conn, d time.Duration) error {
	_ = c.SetReadDeadline(time.Now().Add(d))
	var b [64]byte
	_, err := c.Read(b[:])
	return err
}

// IsTimeout reports a timeout as a socket reports one.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Eventually waits up to two seconds for cond, failing the test with what.
func Eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
