/*
 * sp_probe.h - ask an endpoint what it is before a tool relies on it: one
 * raw connection, the 8-byte SP handshake nng's tcp:// and ipc:// transports
 * start with, every step bounded by a deadline.
 *
 * Why: an nng socket dialed to a peer of the wrong protocol (atpctl aimed at
 * atpd's ingest port) or to nothing at all just keeps reconnecting in the
 * background, and the tool can only say "no reply". The probe turns both
 * into an immediate, precise error ("connection refused", "that is atpd's
 * source feed port"). Any thread; no nng, no state.
 */
#ifndef ATP_TOOLS_SP_PROBE_H
#define ATP_TOOLS_SP_PROBE_H

#include <stddef.h>
#include <stdint.h>

#include "atp/error.h"

/* SP protocol numbers (the handshake's bytes 4..5). */
#define SP_PROTO_PUB 0x20
#define SP_PROTO_SUB 0x21
#define SP_PROTO_REQ 0x30
#define SP_PROTO_REP 0x31

/* sp_probe connects to url (tcp://HOST:PORT or ipc://PATH; other schemes
 * are not probed: ATP_OK), introduces itself as protocol self and reads the
 * peer's handshake, all within timeout_ms. Returns:
 * - ATP_OK: the peer speaks want_peer (or the URL is not probed);
 * - ATP_E_TRANSPORT: nothing listens (refused, no such socket file);
 * - ATP_E_TIMEOUT: no handshake within timeout_ms (a stopped process, a
 *   firewall, a busy peer);
 * - ATP_E_BAD_REQUEST: something else answers: another SP protocol (err
 *   names what atpd serves with it), or not SP at all;
 * - ATP_E_NOMEM. err (if not NULL) says what happened in words. */
atp_err sp_probe(const char *url, uint16_t self, uint16_t want_peer,
                 int timeout_ms, char *err, size_t errlen);

/* sp_probe_peer_role names what atpd serves with a socket of protocol
 * proto, e.g. "a SUB socket: atpd's source feed port
 * (service.ingest_listen)". */
const char *sp_probe_peer_role(uint16_t proto);

#endif
