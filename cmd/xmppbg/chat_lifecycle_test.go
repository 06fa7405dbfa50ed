package main

import (
	"strings"
	"testing"

	"github.com/xmppbg/xmppbg/internal/integration"
)

// TestChatLifecycleDefaultPolicy: the lifecycle commands in the default
// detach mode, on every real server. /resume in the foreground probes;
// /status after a detach says the stream is resumable, and the next /resume
// does resume it; /tear while suspended explains that only hold keeps a
// socket to tear. With close, the stream is not resumable.
func TestChatLifecycleDefaultPolicy(t *testing.T) {
	integration.Each(t, integration.Options{}, func(t *testing.T, srv integration.Server) {
		env := map[string]string{envPassword: integration.Password}
		common := []string{"--jid", "alice@" + srv.Domain(), "--addr", srv.Addr(), "--ca-file", srv.CAFile()}

		c := startChat(t, t.Context(), env, common...)
		c.waitState("online")
		c.send("/resume")
		if e := c.waitEvent("info"); !strings.Contains(e["text"].(string), "probed the connection: alive") {
			t.Errorf("/resume in the foreground: %v", e)
		}
		c.send("/status")
		if e := c.waitEvent("status"); e["resumable"] != true || e["connection"] != "online" || e["app"] != "active" {
			t.Errorf("/status online: %v", e)
		}

		c.send("/suspend")
		c.waitState("suspended")
		c.send("/status")
		if e := c.waitEvent("status"); e["resumable"] != true || e["app"] != "suspended" || e["jid"] == "" {
			t.Errorf("/status after detach: %v", e)
		}
		c.send("/tear rst")
		if e := c.waitEvent("error"); !strings.Contains(e["error"].(string), "policy detach closed the socket") ||
			!strings.Contains(e["error"].(string), "--bg-policy hold") {
			t.Errorf("/tear while detached: %v", e)
		}
		c.send("/resume")
		c.waitEvent("resumed") // what /status said
		c.waitState("online")
		checkEnding(t, c.quit(), quitEOF)

		// With close, /status does not promise a resumption.
		c = startChat(t, t.Context(), env, append(common, "--bg-policy", "close")...)
		c.waitState("online")
		c.send("/suspend")
		c.waitState("suspended")
		c.send("/status")
		if e := c.waitEvent("status"); e["resumable"] != false {
			t.Errorf("/status after close: %v", e)
		}
		c.send("/resume")
		c.waitState("online")
		checkEnding(t, c.quit(), quitEOF)
	})
}
