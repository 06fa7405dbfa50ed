package suspend

import "encoding/binary"

// Route netlink message types and values (linux/rtnetlink.h), defined here
// so that the parser builds, and is fuzzed, on every platform.
const (
	nlmsgHdrLen  = 16
	rtmDelAddr   = 21
	rtmNewRoute  = 24
	rtmDelRoute  = 25
	rtTableMain  = 254
	rtmsgDstLen  = 1 // offset of rtm_dst_len in struct rtmsg
	rtmsgTable   = 4 // offset of rtm_table
	rtmsgMinSize = 12
)

// networkChanged reports whether a batch of route netlink messages says
// that the path a connection took may be gone: an address was removed
// (RTM_DELADDR), or a default route of the main table appeared or went
// away (a switch between networks). A new address alone, or a route to one
// network, changes nothing for an established connection. Malformed input
// stops the parse (what was read so far counts); it never panics.
func networkChanged(b []byte) bool {
	for len(b) >= nlmsgHdrLen {
		n := int(binary.NativeEndian.Uint32(b[0:4]))
		typ := binary.NativeEndian.Uint16(b[4:6])
		if n < nlmsgHdrLen || n > len(b) {
			return false
		}
		data := b[nlmsgHdrLen:n]
		switch typ {
		case rtmDelAddr:
			return true
		case rtmNewRoute, rtmDelRoute:
			if len(data) >= rtmsgMinSize && data[rtmsgDstLen] == 0 && data[rtmsgTable] == rtTableMain {
				return true
			}
		}
		// Messages are aligned to 4 bytes.
		next := (n + 3) &^ 3
		if next > len(b) {
			return false
		}
		b = b[next:]
	}
	return false
}
