package main

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"mellium.im/xmpp/jid"
)

// checkAddress checks that s is the address of a user, user@domain with an
// optional /resource, as RFC 7622 defines a JID; what names it in a message
// ("recipient", "--jid") comes first in the error. A JID without "@" is
// valid in RFC 7622 but names a server, which takes no chat messages and
// has no account: it is refused too. The error is a usage error (exit 2)
// that says which part is wrong, in words rather than a library's.
func checkAddress(what, s string) error {
	bad := func(why string) error { return usageErrorf("invalid %s %q: %s", what, sanitize(s), why) }
	switch {
	case s == "":
		return usageErrorf("empty %s: want user@domain", what)
	case !utf8.ValidString(s):
		return bad("not valid UTF-8")
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return bad("a JID has no spaces or control characters")
	}
	rest, resource, hasResource := strings.Cut(s, "/")
	local, domain, hasAt := strings.Cut(rest, "@")
	switch {
	case !hasAt:
		return bad("want user@domain (without \"@\" it names a server, not an account)")
	case local == "":
		return bad("nothing before the \"@\"")
	case domain == "":
		return bad("no domain after the \"@\"")
	case strings.Contains(domain, "@"):
		return bad("more than one \"@\"")
	case hasResource && resource == "":
		return bad("nothing after the \"/\"")
	}
	if _, err := jid.Parse(s); err == nil {
		return nil
	}
	if _, err := jid.Parse(domain); err != nil {
		return bad("the domain " + quote(domain) + " is not a valid host name")
	}
	if _, err := jid.Parse(local + "@" + domain); err != nil {
		return bad("the part before the \"@\" has characters a JID does not allow (such as \" & ' : < >)")
	}
	return bad("the resource after the \"/\" has characters a JID does not allow")
}

// quote quotes s for a message.
func quote(s string) string { return "\"" + sanitize(s) + "\"" }
