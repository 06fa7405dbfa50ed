package session

import "crypto/tls"

// TLSSessionCacheSize is how many TLS sessions (one per server name) the
// caches of TLSConfig and of the default TLS configuration keep.
const TLSSessionCacheSize = 64

// defaultTLSSessions is the session cache of the default TLS configuration
// (Config.TLS nil): shared by every Connect of the process, so that a
// reconnect resumes the TLS session of the previous connection.
var defaultTLSSessions = newTLSSessionCache()

// newTLSSessionCache returns the cache TLSConfig puts in its configurations.
//
// Resuming a TLS 1.3 session (a PSK from the server's session ticket) skips
// the server's certificate and its verification, and the key exchange's
// signature: less CPU on both sides for every reconnect, the same round
// trips. The servers send tickets anyway (Prosody two after every
// handshake); without a cache they are dropped. A resumed session still
// proves the server (only it can use the ticket), and Go resumes only a
// session whose certificate was verified for the same ServerName, and is
// still valid, unless InsecureSkipVerify is set. TLS exporter channel
// bindings (XEP-0440 tls-exporter) are per connection, resumed or not.
func newTLSSessionCache() tls.ClientSessionCache {
	return tls.NewLRUClientSessionCache(TLSSessionCacheSize)
}
