package suspend

import (
	"encoding/binary"
	"testing"
)

// nlmsg builds one route netlink message of type typ with payload data.
func nlmsg(typ uint16, data []byte) []byte {
	n := nlmsgHdrLen + len(data)
	b := make([]byte, (n+3)&^3)
	binary.NativeEndian.PutUint32(b[0:4], uint32(n))
	binary.NativeEndian.PutUint16(b[4:6], typ)
	copy(b[nlmsgHdrLen:], data)
	return b
}

// rtmsg returns a struct rtmsg with the given destination length and table.
func rtmsg(dstLen, table byte) []byte {
	b := make([]byte, rtmsgMinSize)
	b[rtmsgDstLen], b[rtmsgTable] = dstLen, table
	return b
}

func TestNetworkChanged(t *testing.T) {
	const rtmNewAddr = 20
	cat := func(ms ...[]byte) []byte {
		var b []byte
		for _, m := range ms {
			b = append(b, m...)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"address removed", nlmsg(rtmDelAddr, make([]byte, 8)), true},
		{"address added", nlmsg(rtmNewAddr, make([]byte, 8)), false},
		{"default route added", nlmsg(rtmNewRoute, rtmsg(0, rtTableMain)), true},
		{"default route removed", nlmsg(rtmDelRoute, rtmsg(0, rtTableMain)), true},
		{"route to a network", nlmsg(rtmNewRoute, rtmsg(24, rtTableMain)), false},
		{"local table", nlmsg(rtmNewRoute, rtmsg(0, 255)), false},
		{"a short rtmsg", nlmsg(rtmNewRoute, []byte{0, 0, 0, 0, rtTableMain}), false},
		{"second of a batch", cat(nlmsg(rtmNewAddr, make([]byte, 5)), nlmsg(rtmDelRoute, rtmsg(0, rtTableMain))), true},
		{"length past the end", nlmsg(rtmDelAddr, nil)[:nlmsgHdrLen-1], false},
		{"empty", nil, false},
	} {
		if got := networkChanged(tc.b); got != tc.want {
			t.Errorf("%s: networkChanged = %v, want %v", tc.name, got, tc.want)
		}
	}
	// A length field that lies.
	b := nlmsg(rtmDelAddr, make([]byte, 8))
	binary.NativeEndian.PutUint32(b[0:4], 1000)
	if networkChanged(b) {
		t.Error("a message longer than the batch was read")
	}
}

// The kernel's messages are trusted, but the parser must not panic on any
// input.
func FuzzNetworkChanged(f *testing.F) {
	f.Add(nlmsg(rtmDelAddr, make([]byte, 8)))
	f.Add(nlmsg(rtmNewRoute, rtmsg(0, rtTableMain)))
	f.Add(append(nlmsg(20, make([]byte, 3)), nlmsg(rtmDelRoute, rtmsg(0, rtTableMain))...))
	f.Fuzz(func(t *testing.T, b []byte) {
		networkChanged(b)
	})
}
