// Command gencert writes the self-signed test certificate that
// testdata/compose.yaml mounts into the Prosody container:
//
//	go run ./internal/prosody/cmd/gencert [-domain localhost] testdata/certs
//
// It writes DIR/cert.pem (also the CA file clients trust:
// XMPPBG_TEST_CA_FILE=testdata/certs/cert.pem) and DIR/key.pem. The key is
// written world-readable (0644) on purpose: it is a throwaway test key, and
// the container's "prosody" user (uid 1000, or the owner of the data volume)
// must be able to read a bind-mounted file owned by the host user.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/xmppbg/xmppbg/internal/prosody"
)

func main() {
	domain := flag.String("domain", prosody.DefaultDomain, "XMPP domain the certificate is for (localhost and 127.0.0.1 are always included)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: gencert [-domain D] DIR\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	cert, key, err := prosody.WriteCert(flag.Arg(0), *domain, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gencert:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %s and %s\n", cert, key)
}
