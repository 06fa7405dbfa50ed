package netlab

import (
	"bufio"
	"slices"
	"strings"
	"testing"
)

func TestParseTCP(t *testing.T) {
	const table = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:A5E1 0100007F:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0
   1: 0100007F:C350 0100007F:A5E1 01 00000000:00000000 00:00000000 00000000     0        0 1002 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:C351 0100007F:A5E1 06 00000000:00000000 03:00000000 00000000     0        0 1003 3 0000000000000000
   3: 0100007F:C352 0100007F:A5E1 01 00000000:00000000 00:00000000 00000000     0        0 1004 1 0000000000000000 20 4 30 10 -1
   4: 0100007F:C353 0100007F:0050 01 00000000:00000000 00:00000000 00000000     0        0 1002 1 0000000000000000 20 4 30 10 -1
`
	// 1002 and 1003 are ours; 1003 is in TIME_WAIT, 1004 someone else's,
	// the last line another port.
	got, err := parseTCP(bufio.NewScanner(strings.NewReader(table)), map[string]bool{"1001": true, "1002": true, "1003": true}, 0xA5E1)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Flow{{Local: 0xC350, Remote: 0xA5E1}}; !slices.Equal(got, want) {
		t.Errorf("parseTCP = %v, want %v", got, want)
	}
	if _, err := parseTCP(bufio.NewScanner(strings.NewReader("header\n 0: short\n")), nil, 1); err == nil {
		t.Error("a short line was accepted")
	}
	if _, err := parseTCP(bufio.NewScanner(strings.NewReader("header\n 0: 0100007F:ZZ 0100007F:0000 01 0 0 0 0 0 1\n")), map[string]bool{"1": true}, 1); err == nil {
		t.Error("a bad port was accepted")
	}
}
