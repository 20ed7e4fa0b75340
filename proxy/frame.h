/* proxy/frame.h: where one HTTP/1.1 request ends, decided once, strictly.
 *
 * The connection gate (proxy/gate.c) feeds the bytes of a connection here
 * as they arrive, and hands the request to a civetweb worker only when
 * frame_feed says it is complete. Parsing is nodejs' http-parser (Debian's
 * libhttp-parser); this module adds the caps and the framing rules that
 * close request smuggling (RFC 9112 §6.1, §6.3), each answered with the
 * status the RFC names:
 *   - two Content-Length fields (even equal), a Content-Length with
 *     Transfer-Encoding, two Transfer-Encoding fields, a transfer coding
 *     other than a final "chunked", an invalid length: 400;
 *   - whitespace between a field name and its colon, obs-fold line
 *     continuations: 400;
 *   - a request-target over FRAME_MAX_TARGET bytes: 414;
 *   - a head (request line + fields) over max_head bytes or more than
 *     FRAME_MAX_FIELDS fields: 431;
 *   - a body (Content-Length or chunked, decoded) over max_body, or a raw
 *     message (head + chunked framing) over frame_raw_cap(): 413;
 *   - anything http-parser rejects: 400.
 * Not thread-safe; one struct frame per connection. No allocation. */
#ifndef AP_PROXY_FRAME_H
#define AP_PROXY_FRAME_H

#include <stdbool.h>
#include <stddef.h>

#include <http_parser.h>

/* civetweb 1.15 keeps MG_MAX_HEADERS (64) fields: a request with more would
 * be framed by civetweb on a partial view, so it is refused here. */
#define FRAME_MAX_FIELDS 64
#define FRAME_MAX_TARGET 2048

struct frame {
    http_parser parser;
    size_t max_head;
    size_t max_body;
    size_t fed;            /* bytes consumed so far */
    size_t head_len;       /* bytes of the head, once head_done */
    size_t body_len;       /* decoded body bytes so far */
    size_t target_len;
    unsigned fields;
    unsigned n_cl;         /* Content-Length fields */
    unsigned n_te;         /* Transfer-Encoding fields */
    int status;            /* 0, or the error status to answer */
    const char *why;       /* static text for the error, or NULL */
    bool head_done;
    bool complete;         /* one whole request consumed */
    bool expect_continue;  /* Expect: 100-continue */
    bool in_value;         /* last callback was a field value */
    bool after_lf;         /* last head byte fed was LF */
    char name[24];         /* current field name, lower case, truncated */
    size_t name_len;
    char value[16];        /* current value, when the name matters */
    size_t value_len;
};

/* Resets f for a new request with these caps. */
void frame_init(struct frame *f, size_t max_head, size_t max_body);

/* The largest raw request frame_feed can accept with these caps: the head,
 * and the body with room for its chunked framing. */
size_t frame_raw_cap(size_t max_head, size_t max_body);

/* Feeds len bytes that follow those fed before. Returns how many were
 * consumed: all of them, or fewer when the request completed inside data
 * (f->complete; the rest belongs to the next request) or an error stopped
 * the parse (f->status != 0, f->why says why). Once complete or failed,
 * feeding consumes nothing until frame_init. */
size_t frame_feed(struct frame *f, const char *data, size_t len);

/* True when the head is complete and the body is still to come: the gate
 * answers Expect: 100-continue then. */
bool frame_wants_continue(const struct frame *f);

#endif /* AP_PROXY_FRAME_H */
