package suspend

import "os"

// Test hooks: what a Conn is doing right now.

// InIO returns how many calls are inside c's socket.
func InIO(c *Conn) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inIO
}

// Parked returns how many calls are parked in c, not touching the socket.
func Parked(c *Conn) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.parked
}

// Frozen reports whether c is frozen.
func Frozen(c *Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.frozen
}

// WithSignals returns o with ch standing in for SIGCONT: a value on ch is a
// SIGCONT.
func WithSignals(o DetectorOptions, ch <-chan os.Signal) DetectorOptions {
	o.signals = ch
	return o
}

// WithNetwork returns o with ch standing in for the kernel's network
// changes: a value on ch is a change that may cut a connection's path.
func WithNetwork(o DetectorOptions, ch <-chan struct{}) DetectorOptions {
	o.network = ch
	return o
}
