/* faultproxy: a fault-injecting TCP proxy for the integration tests, between pgpulse and the
 * test cluster. It reads PostgreSQL's frontend/backend framing in both directions and, at one
 * chosen message boundary, cuts the connection or stalls one direction of it.
 *
 * A thread of the test process listens on 127.0.0.1 (a free port) and relays each accepted
 * connection to the real server, in order, byte for byte. It buffers a direction until a whole
 * message is there, so every decision is taken at a boundary: "cut before message k" forwards
 * nothing of k, "cut after message k" forwards k completely and then closes both sockets.
 *
 * Messages are told apart by kind: the untyped first frontend messages (StartupMessage,
 * SSLRequest, GSSENCRequest, CancelRequest), the backend's one-byte answer to an SSL or GSS
 * request, then typed messages (Byte1 type, Int32 length). On a connection that entered
 * CopyBoth mode (replication), CopyData is split by its first payload byte into XLogData and
 * keepalives (backend) and standby status updates and hot standby feedback (frontend). An
 * accepted SSL or GSS request ('S' or 'G') makes the proxy relay the rest unparsed: the proxy is
 * for plain connections (the harness's proxy conninfo sets sslmode=disable).
 *
 * One rule at a time: which connections (a StartupMessage parameter, e.g. application_name =
 * pgpulse-ingest, or any), a direction, a kind (or any), N (the Nth such message over all
 * matching connections since the rule was armed), before or after it, and an action. Rules are
 * one-shot: once fired, everything passes through, so the client's reconnect works. The proxy
 * records a trace of every message it relays, so a sweep can enumerate the boundaries of an
 * uninterrupted run instead of hard-coding counts. */
#ifndef PGPULSE_FAULTPROXY_H
#define PGPULSE_FAULTPROXY_H

#include <stddef.h>
#include <stdint.h>

/* Which way a message travels. */
typedef enum faultproxy_dir {
    FAULTPROXY_TO_SERVER, /* frontend messages: client -> server */
    FAULTPROXY_TO_CLIENT, /* backend messages: server -> client */
} faultproxy_dir;

#define FAULTPROXY_X(K)                                                                            \
    /* untyped frontend messages */                                                              \
    K(STARTUP, "StartupMessage")                                                                   \
    K(SSL_REQUEST, "SSLRequest")                                                                   \
    K(GSS_REQUEST, "GSSENCRequest")                                                                \
    K(CANCEL, "CancelRequest")                                                                     \
    /* the backend's one byte answer to an SSL or GSS request */                                   \
    K(SSL_ANSWER, "SSLAnswer")                                                                     \
    /* frontend */                                                                                 \
    K(QUERY, "Query")                                                                              \
    K(PARSE, "Parse")                                                                              \
    K(BIND, "Bind")                                                                                \
    K(DESCRIBE, "Describe")                                                                        \
    K(EXECUTE, "Execute")                                                                          \
    K(SYNC, "Sync")                                                                                \
    K(FLUSH, "Flush")                                                                              \
    K(CLOSE, "Close")                                                                              \
    K(PASSWORD, "PasswordMessage")                                                                 \
    K(FUNCTION_CALL, "FunctionCall")                                                               \
    K(TERMINATE, "Terminate")                                                                      \
    K(COPY_FAIL, "CopyFail")                                                                       \
    K(STANDBY_STATUS, "StandbyStatusUpdate")                                                       \
    K(HOT_STANDBY_FEEDBACK, "HotStandbyFeedback")                                                  \
    /* both directions */                                                                          \
    K(COPY_DATA, "CopyData")                                                                       \
    K(COPY_DONE, "CopyDone")                                                                       \
    /* backend */                                                                                  \
    K(AUTH, "Authentication")                                                                      \
    K(PARAMETER_STATUS, "ParameterStatus")                                                         \
    K(BACKEND_KEY, "BackendKeyData")                                                               \
    K(READY, "ReadyForQuery")                                                                      \
    K(ROW_DESCRIPTION, "RowDescription")                                                           \
    K(DATA_ROW, "DataRow")                                                                         \
    K(COMMAND_COMPLETE, "CommandComplete")                                                         \
    K(ERROR, "ErrorResponse")                                                                      \
    K(NOTICE, "NoticeResponse")                                                                    \
    K(NOTIFICATION, "NotificationResponse")                                                        \
    K(COPY_IN, "CopyInResponse")                                                                   \
    K(COPY_OUT, "CopyOutResponse")                                                                 \
    K(COPY_BOTH, "CopyBothResponse")                                                               \
    K(PARSE_COMPLETE, "ParseComplete")                                                             \
    K(BIND_COMPLETE, "BindComplete")                                                               \
    K(CLOSE_COMPLETE, "CloseComplete")                                                             \
    K(NO_DATA, "NoData")                                                                           \
    K(EMPTY_QUERY, "EmptyQueryResponse")                                                           \
    K(PARAMETER_DESCRIPTION, "ParameterDescription")                                               \
    K(PORTAL_SUSPENDED, "PortalSuspended")                                                         \
    K(NEGOTIATE_PROTOCOL, "NegotiateProtocolVersion")                                              \
    K(FUNCTION_RESULT, "FunctionCallResponse")                                                     \
    K(XLOG_DATA, "XLogData")                                                                       \
    K(KEEPALIVE, "PrimaryKeepalive")                                                               \
    /* a type byte the proxy does not know (framed by its length all the same) */                  \
    K(OTHER, "Other")

#define FAULTPROXY_ENUM(name, text) FAULTPROXY_##name,
typedef enum faultproxy_kind {
    FAULTPROXY_ANY, /* in a rule: every kind */
    FAULTPROXY_X(FAULTPROXY_ENUM) FAULTPROXY_NKINDS
} faultproxy_kind;
#undef FAULTPROXY_ENUM

/* The protocol name of a kind ("CommandComplete"); "any" for FAULTPROXY_ANY. */
const char *faultproxy_kind_name(faultproxy_kind kind);

/* The framing state of one connection, shared by its two directions (an SSLRequest makes the
 * next backend message a single byte; a CopyBothResponse changes what CopyData means). */
typedef struct faultproxy_framing {
    int typed;          /* the StartupMessage has passed: frontend messages are typed */
    int answer_pending; /* an SSL or GSS request awaits its one-byte answer */
    int copy_both;      /* the backend sent CopyBothResponse: replication CopyData */
    int opaque;         /* SSL or GSS was accepted, or the stream made no sense: relay raw */
} faultproxy_framing;

/* Frames the next message of direction dir at the start of buf[0..len). Returns its length
 * and kind when it is all there; 0 when more bytes are needed; -1 when the bytes cannot be a
 * message (the caller should relay the rest unparsed). Pure: st is only read (see
 * faultproxy_framing_note). */
long faultproxy_frame(const faultproxy_framing *st, faultproxy_dir dir, const uint8_t *buf,
                      size_t len, faultproxy_kind *kind);

/* Updates the framing state after a whole message msg[0..len) of kind has been framed. */
void faultproxy_framing_note(faultproxy_framing *st, faultproxy_dir dir, faultproxy_kind kind,
                             const uint8_t *msg, size_t len);

typedef enum faultproxy_when {
    FAULTPROXY_BEFORE, /* act before the message is forwarded (none of it is) */
    FAULTPROXY_AFTER,  /* forward the whole message, then act */
} faultproxy_when;

typedef enum faultproxy_action {
    FAULTPROXY_CUT,      /* close both sockets of the connection at once */
    FAULTPROXY_STALL,    /* hold this direction for stall_ms (the other keeps flowing) */
    FAULTPROXY_CUT_LATE, /* for messages to the server: the client's socket closes at once,
                            the server gets what was forwarded to it (with AFTER, the message
                            too) stall_ms later, then its socket closes: a request that arrives
                            after its client gave up, e.g. a COMMIT that commits while the
                            client is already asking whether it did */
} faultproxy_action;

#define FAULTPROXY_UNTIL_RELEASED (-1) /* stall_ms: hold until faultproxy_release */

typedef struct faultproxy_rule {
    const char *match_key;   /* a StartupMessage parameter the connection must have, e.g.
                                "application_name"; NULL: every connection */
    const char *match_value; /* its value, e.g. "pgpulse-ingest" */
    faultproxy_dir dir;      /* direction of the message counted */
    faultproxy_kind kind;    /* kind counted; FAULTPROXY_ANY: every message */
    long n;                  /* fires at the nth counted message (from 1) */
    faultproxy_when when;
    faultproxy_action action;
    int stall_ms;            /* FAULTPROXY_STALL: how long; FAULTPROXY_CUT_LATE: the server's
                                delay; either may be FAULTPROXY_UNTIL_RELEASED */
} faultproxy_rule;

/* One message relayed, as the trace and faultproxy_fired report it. */
typedef struct faultproxy_event {
    int conn;             /* connection number, from 1 in accept order */
    faultproxy_dir dir;
    faultproxy_kind kind;
} faultproxy_event;

typedef struct faultproxy faultproxy;

/* Starts a proxy to the server at host:port (numeric IPv4). Returns NULL with a message in
 * err when it cannot listen or start its thread. Free with faultproxy_stop. */
faultproxy *faultproxy_start(const char *host, int port, char *err, size_t errlen);

/* Stops the thread, closes every connection and frees the proxy. NULL-safe. */
void faultproxy_stop(faultproxy *p);

/* The port the proxy listens on (127.0.0.1). */
int faultproxy_port(const faultproxy *p);

/* Arms rule (copied; its strings too), replacing any other: the count starts at 0 and the
 * rule has not fired. NULL disarms (everything passes). Also releases a stall held until
 * released. */
void faultproxy_arm(faultproxy *p, const faultproxy_rule *rule);

/* Returns 1 if the armed rule has fired, and where (*at, if not NULL); else 0. */
int faultproxy_fired(faultproxy *p, faultproxy_event *at);

/* Ends a stall or a late delivery armed with FAULTPROXY_UNTIL_RELEASED (a no-op if none is
 * held). */
void faultproxy_release(faultproxy *p);

/* Empties the trace (it records every relayed message from the proxy's start). */
void faultproxy_trace_reset(faultproxy *p);

/* The trace since the last reset, restricted to connections whose StartupMessage had
 * match_key = match_value (NULL: all), as a newly allocated array (caller frees) of *n events
 * in the order the proxy relayed them. */
faultproxy_event *faultproxy_trace(faultproxy *p, const char *match_key, const char *match_value,
                                   size_t *n);

/* The position of trace event ev[i] among the events of its direction (from 1): the n of a
 * rule that acts at that message, given the same connections match. */
long faultproxy_ordinal(const faultproxy_event *ev, size_t i);

/* Connections accepted since the start, and those still open. */
void faultproxy_counts(faultproxy *p, int *accepted, int *open);

#endif
