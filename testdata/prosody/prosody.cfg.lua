-- xmppbg throwaway test server configuration for Prosody 0.12 and 13.
--
-- This one file serves both ways of running the test server:
--   * the Go package internal/prosody embeds it (canonical copy:
--     internal/prosody/prosody.cfg.lua) and starts `prosody -F --config FILE`;
--   * testdata/compose.yaml mounts the byte-identical copy
--     testdata/prosody/prosody.cfg.lua into the official container image.
-- A unit test (TestTestdataConfigInSync) keeps the two copies identical.
--
-- It is parameterised through environment variables: Prosody's config sandbox
-- resolves any global named ENV_FOO to os.getenv("FOO") (a string, or nil
-- when unset). Defaults below suit the container; the Go package always sets
-- every variable.
--
--   XMPPBG_DOMAIN          virtual host (default "localhost")
--   XMPPBG_INTERFACE       listen address (default "127.0.0.1"; "*" in compose)
--   XMPPBG_PORT            c2s (STARTTLS) port (default 5222)
--   XMPPBG_DIRECT_TLS_PORT XEP-0368 direct TLS port (default: none)
--   XMPPBG_DATA            data_path (default: Prosody's built-in data dir)
--   XMPPBG_LOG             log file (default: console)
--   XMPPBG_LOG_LEVEL       minimum log level (default "info")
--   XMPPBG_CERT            PEM certificate (default /etc/prosody/certs/cert.pem)
--   XMPPBG_KEY             PEM private key (default /etc/prosody/certs/key.pem)
--   XMPPBG_HIBERNATION     smacks_hibernation_time in seconds (default 600)
--   XMPPBG_MAM             "1" loads mod_mam (default off)
--   XMPPBG_OFFLINE         "0" disables mod_offline (default on)
--   XMPPBG_SMACKS          "0" leaves out mod_smacks: a server without XEP-0198
--                          (default on)
--   XMPPBG_MODERN          "1" (Prosody 13 with prosody-modules) loads the
--                          modern login: mod_sasl2, mod_sasl2_bind2,
--                          mod_sasl2_fast, mod_sasl2_sm (with smacks) and
--                          mod_sasl_ssdp (default off; they crash 0.12)
--   XMPPBG_STANZA_LIMIT    c2s_stanza_size_limit in bytes (default: Prosody's,
--                          256 KiB; Prosody 13 advertises it, XEP-0478)
--   XMPPBG_RUN_AS_ROOT     "1" lets prosody and prosodyctl run as root without
--                          switching to the "prosody" user (default off)

-- Prosody 13 warns about the Lua library used directly in a config and
-- offers it as Lua.*; 0.12 has no Lua global.
local Lua = Lua or { tonumber = tonumber; table = table; ipairs = ipairs }
local tonumber, table, ipairs = Lua.tonumber, Lua.table, Lua.ipairs

local domain = ENV_XMPPBG_DOMAIN or "localhost"
local interface = ENV_XMPPBG_INTERFACE or "127.0.0.1"
local port = tonumber(ENV_XMPPBG_PORT or "5222")
local direct_tls_port = tonumber(ENV_XMPPBG_DIRECT_TLS_PORT or "")

-- mod_posix (loaded automatically) refuses to start as root unless
-- run_as_root is true, and prosodyctl started as root switches to the
-- "prosody" user (which cannot read a root-owned temp dir) unless it is true.
-- In the container prosody runs as user "prosody" and this stays false, so
-- that `prosodyctl register` also writes files as that user.
run_as_root = ENV_XMPPBG_RUN_AS_ROOT == "1"

if ENV_XMPPBG_DATA then
	data_path = ENV_XMPPBG_DATA
end

if ENV_XMPPBG_LOG then
	log = { { levels = { min = ENV_XMPPBG_LOG_LEVEL or "info" }, to = "file", filename = ENV_XMPPBG_LOG } }
else
	log = { { levels = { min = ENV_XMPPBG_LOG_LEVEL or "info" }, to = "console" } }
end

-- Network: client connections only, on one interface. No s2s (disabled
-- below), no HTTP (no HTTP module is loaded), no components.
interfaces = { interface }
c2s_interfaces = { interface }
c2s_ports = { port }
if direct_tls_port then
	c2s_direct_tls_interfaces = { interface }
	c2s_direct_tls_ports = { direct_tls_port }
else
	c2s_direct_tls_ports = {}
end
legacy_ssl_ports = {}
local stanza_limit = tonumber(ENV_XMPPBG_STANZA_LIMIT or "")
if stanza_limit then
	c2s_stanza_size_limit = stanza_limit
end

-- Options are write-only in the config sandbox (reading modules_enabled
-- back gives nil), so the lists are built in locals first.
local enabled = {
	"roster";
	"saslauth";
	"tls";
	"disco";
	"ping";
	"csi_simple";
	"carbons";
}
if ENV_XMPPBG_SMACKS ~= "0" then
	table.insert(enabled, "smacks")
end
if ENV_XMPPBG_MAM == "1" then
	table.insert(enabled, "mam")
end
if ENV_XMPPBG_MODERN == "1" then
	-- XEP-0388 SASL2, XEP-0386 Bind2, XEP-0484 FAST, XEP-0198 inside SASL2,
	-- XEP-0474 downgrade protection. FAST tokens keep their defaults
	-- (sasl2_fast_token_ttl 21 days).
	for _, m in ipairs({ "sasl2"; "sasl2_bind2"; "sasl2_fast"; "sasl_ssdp" }) do
		table.insert(enabled, m)
	end
	if ENV_XMPPBG_SMACKS ~= "0" then
		table.insert(enabled, "sasl2_sm")
	end
end
modules_enabled = enabled

-- presence, message, iq, c2s and offline are loaded automatically; s2s
-- (and its certificate check) are not wanted.
local disabled = { "s2s"; "s2s_auth_certs" }
if ENV_XMPPBG_OFFLINE == "0" then
	table.insert(disabled, "offline")
end
modules_disabled = disabled

allow_registration = false
c2s_require_encryption = true
-- Keep the default: internal_plain redoes PBKDF2 on every SCRAM login.
authentication = "internal_hashed"
storage = "internal"

ssl = {
	certificate = ENV_XMPPBG_CERT or "/etc/prosody/certs/cert.pem";
	key = ENV_XMPPBG_KEY or "/etc/prosody/certs/key.pem";
}

smacks_hibernation_time = tonumber(ENV_XMPPBG_HIBERNATION or "600")

-- Only read when mod_mam is loaded: archive everything, keep it for the
-- lifetime of the (throwaway) server.
default_archive_policy = true
archive_expires_after = "never"

-- No rate limits: mod_limits is not loaded, and the c2s stanza size limits
-- are Prosody's defaults (256 KiB authenticated).

VirtualHost(domain)
