package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"strings"

	"mellium.im/sasl"
)

// FAST (XEP-0484) authenticates with a token instead of the password, by
// the HT mechanisms of draft-schmaus-kitten-sasl-ht: the client sends its
// username and HMAC-SHA-256(token, "Initiator" ‖ channel binding), the
// server proves it knows the token too with HMAC-SHA-256(token, "Responder"
// ‖ channel binding) in the success's additional-data. No round trip beyond
// the one that carries the request.

// FAST mechanisms this client implements, best first. -EXPR binds the token
// to this TLS connection (RFC 9266 tls-exporter, TLS 1.3 only); -NONE binds
// it to nothing but TLS itself.
const (
	mechHTExpr = "HT-SHA-256-EXPR"
	mechHTNone = "HT-SHA-256-NONE"
)

// errFASTProof is the FAST server's additional-data not proving the token.
var errFASTProof = errors.New("the server's FAST proof does not match the token")

// htMechanism is an HT-SHA-256-* mechanism for mellium's SASL negotiator.
// The negotiator's credentials are the username and, as the password, the
// token. Step(nil) gives the initial response; Step(additional-data) checks
// the server's proof.
func htMechanism(name string) sasl.Mechanism {
	return sasl.Mechanism{
		Name: name,
		Start: func(n *sasl.Negotiator) (bool, []byte, any, error) {
			user, token, _ := n.Credentials()
			cb, err := htBinding(name, n.TLSState())
			if err != nil {
				return false, nil, nil, err
			}
			resp := append(append([]byte(nil), user...), 0)
			resp = append(resp, htHMAC(token, "Initiator", cb)...)
			return true, resp, cb, nil
		},
		Next: func(n *sasl.Negotiator, challenge []byte, data any) (bool, []byte, any, error) {
			_, token, _ := n.Credentials()
			cb, _ := data.([]byte)
			if !hmac.Equal(challenge, htHMAC(token, "Responder", cb)) {
				return false, nil, nil, errFASTProof
			}
			return false, nil, nil, nil
		},
	}
}

func htHMAC(token []byte, role string, cb []byte) []byte {
	m := hmac.New(sha256.New, token)
	m.Write([]byte(role))
	m.Write(cb)
	return m.Sum(nil)
}

// htBinding is the channel-binding data of an HT mechanism.
func htBinding(name string, cs *tls.ConnectionState) ([]byte, error) {
	switch {
	case strings.HasSuffix(name, "-NONE"):
		return nil, nil
	case strings.HasSuffix(name, "-EXPR"):
		return tlsExporter(cs)
	}
	return nil, errors.New("session: unsupported FAST mechanism " + name)
}

// tlsExporter is RFC 9266's tls-exporter channel binding: 32 bytes under the
// label EXPORTER-Channel-Binding, no context. Only TLS 1.3 makes it safe.
func tlsExporter(cs *tls.ConnectionState) ([]byte, error) {
	if cs == nil || !cs.HandshakeComplete || cs.Version < tls.VersionTLS13 {
		return nil, errors.New("session: tls-exporter channel binding needs TLS 1.3")
	}
	return cs.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
}

// fastUsable reports whether the FAST mechanism mech can run on a
// connection in state cs.
func fastUsable(mech string, cs *tls.ConnectionState) bool {
	switch mech {
	case mechHTNone:
		return true
	case mechHTExpr:
		_, err := tlsExporter(cs)
		return err == nil
	}
	return false
}
