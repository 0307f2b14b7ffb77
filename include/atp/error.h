/*
 * atp/error.h - the one error enum of atpd, shared by the service, its tools
 * and any client.
 *
 * Codes and names are on the wire (replies carry both): never renumber, never
 * rename; only append. Functions return atp_err (0 = success) and put results
 * in out-parameters, last.
 */
#ifndef ATP_ERROR_H
#define ATP_ERROR_H

/* X(NAME, code, "wire_name", "human message") */
#define ATP_ERROR_MAP(X)                                                       \
    X(OK, 0, "ok", "success")                                                  \
    X(BAD_REQUEST, 1, "bad_request", "malformed request")                      \
    X(UNKNOWN_OP, 2, "unknown_op", "unknown operation")                        \
    X(UNKNOWN_REGION, 3, "unknown_region", "unknown region")                   \
    X(UNKNOWN_CHANNEL, 4, "unknown_channel", "unknown channel")                \
    X(UNKNOWN_LOCATION, 5, "unknown_location", "unknown location")             \
    X(BAD_SKU, 6, "bad_sku", "SKU must be 1..64 bytes of printable UTF-8")     \
    X(BAD_QTY, 7, "bad_qty", "quantity out of range")                          \
    X(TOO_MANY_LINES, 8, "too_many_lines", "too many lines in one request")    \
    X(TOO_LARGE, 9, "too_large", "message too large or nested too deeply")     \
    X(INTERNAL, 10, "internal", "internal error")                              \
    X(BUSY, 11, "busy", "service overloaded, retry later")                     \
    X(UNAUTHORIZED, 12, "unauthorized",                                        \
      "source is not authoritative for this location and bucket")              \
    X(UNKNOWN_SOURCE, 13, "unknown_source", "unknown source")                  \
    X(DUPLICATE, 14, "duplicate", "sequence number already applied")           \
    X(CONFIG, 15, "config", "invalid configuration")                           \
    X(NOMEM, 16, "nomem", "out of memory")                                     \
    X(IO, 17, "io", "input/output error")                                      \
    X(CONFLICT, 18, "conflict", "same id, different content")                  \
    X(NOT_FOUND, 19, "not_found", "not found")                                 \
    X(STORE_FULL, 20, "store_full", "storage full: writes refused")            \
    X(TIMEOUT, 21, "timeout", "timed out")                                     \
    X(BAD_BUCKET, 22, "bad_bucket", "unknown bucket")                          \
    X(BAD_EVENT, 23, "bad_event", "unknown or malformed event")                \
    X(TRANSPORT, 24, "transport", "transport error")                           \
    X(BAD_STATE, 25, "bad_state", "operation not allowed in this state")       \
    X(BAD_TTL, 26, "bad_ttl", "TTL out of the configured range")               \
    X(BAD_ID, 27, "bad_id", "id must be 1..128 bytes of printable UTF-8")      \
    X(NOT_READY, 28, "not_ready",                                              \
      "starting up: state not restored yet, retry later")                      \
    X(UNAUTHENTICATED, 29, "unauthenticated", "missing or unknown token")      \
    X(FORBIDDEN, 30, "forbidden", "the token's scopes do not allow this")      \
    X(QUOTA, 31, "quota", "this client's limit is reached, retry later")       \
    X(NOT_OWNER, 32, "not_owner",                                              \
      "this cluster node does not own the partition: ask its owner")           \
    X(CROSS_PARTITION, 33, "cross_partition",                                  \
      "the request's regions lie in several partitions of the cluster")

typedef enum atp_err {
#define ATP_ERR_ENUM_(name, code, wire, msg) ATP_E_##name = code,
    ATP_ERROR_MAP(ATP_ERR_ENUM_)
#undef ATP_ERR_ENUM_
} atp_err;

#define ATP_OK ATP_E_OK

/* atp_err_name returns the stable wire name ("unknown_region"), or
 * "unknown_error" for a code this build does not know. */
const char *atp_err_name(int code);

/* atp_err_message returns the default human message for a code. */
const char *atp_err_message(int code);

#endif
