package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/xmppbg/xmppbg/internal/driver"
	"github.com/xmppbg/xmppbg/internal/integration"
	"github.com/xmppbg/xmppbg/session"
)

// TestChatShowsPresence: a contact coming online and going offline is a
// presence event (JSON) and a line (text), on every real server. Bob, a
// plain mellium client, sends alice's resource directed presences (which a
// server delivers without a subscription, RFC 6121 §4.6); the account's own
// presence, reflected by the server, is not shown.
func TestChatShowsPresence(t *testing.T) {
	integration.Each(t, integration.Options{}, func(t *testing.T, srv integration.Server) {
		env := map[string]string{envPassword: integration.Password}
		alice, bob := "alice@"+srv.Domain(), "bob@"+srv.Domain()
		c := startChat(t, t.Context(), env, "--jid", alice, "--addr", srv.Addr(), "--ca-file", srv.CAFile())
		c.waitState("online")
		c.send("/status")
		full, _ := c.waitEvent("status")["jid"].(string)
		if !strings.HasPrefix(full, alice+"/") {
			t.Fatalf("alice's full JID %q", full)
		}

		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		tlsCfg, err := session.TLSConfig(srv.Domain(), srv.CAFile(), false)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		b, err := xmpp.NewClientSession(ctx, jid.MustParse(bob), conn,
			xmpp.StartTLS(tlsCfg), xmpp.SASL("", integration.Password, sasl.ScramSha1, sasl.Plain), xmpp.BindResource())
		if err != nil {
			t.Fatalf("bob's login: %v", err)
		}
		defer b.Close()
		to := jid.MustParse(full)
		if err := b.Send(ctx, stanza.Presence{To: to}.Wrap(nil)); err != nil {
			t.Fatal(err)
		}
		on := c.waitEvent("presence")
		if from, _ := on["from"].(string); !strings.HasPrefix(from, bob+"/") || on["online"] != true {
			t.Errorf("presence %v, want bob online", on)
		}
		if err := b.Send(ctx, stanza.Presence{To: to, Type: stanza.UnavailablePresence}.Wrap(nil)); err != nil {
			t.Fatal(err)
		}
		off := c.waitEvent("presence")
		if from, _ := off["from"].(string); !strings.HasPrefix(from, bob+"/") || off["online"] != false {
			t.Errorf("presence %v, want bob offline", off)
		}
		events := checkEnding(t, c.quit(), quitEOF)
		for _, e := range eventsNamed(events, "presence") {
			if strings.HasPrefix(e["from"].(string), alice) {
				t.Errorf("alice's own presence shown: %v", e)
			}
		}
	})
}

// The text form of the presence events.
func TestContactText(t *testing.T) {
	u := &textUI{}
	for _, tc := range []struct {
		online bool
		want   string
	}{{true, "-- bob@example.org/phone is online"}, {false, "-- bob@example.org/phone is offline"}} {
		line, status := u.format(driverContact("bob@example.org/phone", tc.online))
		if line != tc.want || !status {
			t.Errorf("format = %q, %v; want %q", line, status, tc.want)
		}
	}
	// Network text is sanitized.
	if line, _ := u.format(driverContact("evil\x1b[2J@example.org", true)); strings.Contains(line, "\x1b") {
		t.Errorf("escape printed: %q", line)
	}
}

func driverContact(j string, online bool) driver.Contact {
	return driver.Contact{Stamp: driver.Stamp{At: time.Now()}, JID: j, Online: online}
}

// TestChatBounce: in chat, a message to an unknown user is acknowledged,
// then its bounce is a "bounced" event with the message's id, on every
// real server.
func TestChatBounce(t *testing.T) {
	integration.Each(t, integration.Options{}, func(t *testing.T, srv integration.Server) {
		env := map[string]string{envPassword: integration.Password}
		c := startChat(t, t.Context(), env, "--jid", "alice@"+srv.Domain(), "--addr", srv.Addr(), "--ca-file", srv.CAFile())
		c.waitState("online")
		nobody := "nobody@" + srv.Domain()
		c.send("/msg " + nobody + " hello?")
		sent := c.waitEvent("sent")
		b := c.waitEvent("bounced")
		if b["id"] != sent["id"] || b["condition"] != "service-unavailable" || !strings.HasPrefix(b["from"].(string), nobody) {
			t.Errorf("sent %v, bounced %v", sent, b)
		}
		checkEnding(t, c.quit(), quitEOF)
	})
}
