/* proxy/frame.c: one request's framing with http-parser, caps and the
 * RFC 9112 rules against smuggling (see frame.h).
 *
 * The parser is paused at the end of the head, so the head's length is
 * known exactly (the cap is checked on it and the obs-fold scan covers the
 * head only), and at the end of the message, so bytes of a pipelined next
 * request are left unconsumed. */
#include "proxy/frame.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

static int
fail(struct frame *f, int status, const char *why)
{
    if (f->status == 0) {
        f->status = status;
        f->why = why;
    }
    return 1; /* a non-zero callback return stops http-parser */
}

static char
lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* The current field's name is complete: count the ones framing depends on. */
static int
end_name(struct frame *f)
{
    f->in_value = true;
    f->value_len = 0;
    if (f->name_len == strlen("content-length") &&
        memcmp(f->name, "content-length", f->name_len) == 0) {
        f->n_cl++;
    } else if (f->name_len == strlen("transfer-encoding") &&
               memcmp(f->name, "transfer-encoding", f->name_len) == 0) {
        if (++f->n_te > 1) {
            return fail(f, 400, "more than one Transfer-Encoding field");
        }
    }
    return 0;
}

static bool
name_is(const struct frame *f, const char *name)
{
    return f->name_len == strlen(name) && memcmp(f->name, name, f->name_len) == 0;
}

/* The current field's value is complete. */
static void
end_value(struct frame *f)
{
    size_t n = f->value_len;

    if (!f->in_value || !name_is(f, "expect")) {
        return;
    }
    while (n > 0 && n <= sizeof(f->value) &&
           (f->value[n - 1] == ' ' || f->value[n - 1] == '\t')) {
        n--;
    }
    if (n == strlen("100-continue") && memcmp(f->value, "100-continue", n) == 0) {
        f->expect_continue = true;
    }
}

static int
on_url(http_parser *p, const char *at, size_t n)
{
    struct frame *f = p->data;

    (void)at;
    f->target_len += n;
    if (f->target_len > FRAME_MAX_TARGET) {
        return fail(f, 414, "request-target too long");
    }
    return 0;
}

static int
on_field(http_parser *p, const char *at, size_t n)
{
    struct frame *f = p->data;

    if (f->in_value || f->fields == 0) {
        end_value(f);
        if (++f->fields > FRAME_MAX_FIELDS) {
            return fail(f, 431, "too many header fields");
        }
        f->in_value = false;
        f->name_len = 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (at[i] == ' ' || at[i] == '\t') {
            return fail(f, 400, "whitespace in a header field name");
        }
        if (f->name_len < sizeof(f->name)) {
            f->name[f->name_len] = lower(at[i]);
        }
        f->name_len++;
    }
    return 0;
}

static int
on_value(http_parser *p, const char *at, size_t n)
{
    struct frame *f = p->data;

    if (!f->in_value && end_name(f) != 0) {
        return 1;
    }
    if (!name_is(f, "expect")) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (f->value_len < sizeof(f->value)) {
            f->value[f->value_len] = lower(at[i]);
        }
        f->value_len++;
    }
    return 0;
}

static int
on_headers_complete(http_parser *p)
{
    struct frame *f = p->data;

    if (f->fields > 0 && !f->in_value && end_name(f) != 0) {
        return -1;
    }
    if (f->n_cl > 0 && f->n_te > 0) {
        /* http-parser refuses this too; said here with our reason */
        fail(f, 400, "Content-Length with Transfer-Encoding");
        return -1;
    }
    if ((p->flags & F_CONTENTLENGTH) != 0 && p->content_length != ULLONG_MAX &&
        p->content_length > (uint64_t)f->max_body) {
        fail(f, 413, "request body too large");
        return -1;
    }
    end_value(f);
    f->head_done = true;
    http_parser_pause(p, 1);
    return 0;
}

static int
on_body(http_parser *p, const char *at, size_t n)
{
    struct frame *f = p->data;

    (void)at;
    f->body_len += n;
    if (f->body_len > f->max_body) {
        return fail(f, 413, "request body too large");
    }
    return 0;
}

static int
on_message_complete(http_parser *p)
{
    struct frame *f = p->data;

    f->complete = true;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_url = on_url,
    .on_header_field = on_field,
    .on_header_value = on_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void
frame_init(struct frame *f, size_t max_head, size_t max_body)
{
    memset(f, 0, sizeof(*f));
    http_parser_init(&f->parser, HTTP_REQUEST);
    f->parser.data = f;
    f->max_head = max_head;
    f->max_body = max_body;
}

size_t
frame_raw_cap(size_t max_head, size_t max_body)
{
    /* Chunked framing of a body cut into 1 KiB chunks costs under 1 %; a
     * body cut finer than 8 bytes a chunk is refused (413). */
    return max_head + 2 * max_body + 64;
}

/* RFC 9112 §5.2: obs-fold in a request is refused. Scans head bytes. */
static bool
has_fold(struct frame *f, const char *data, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (f->after_lf && (data[i] == ' ' || data[i] == '\t')) {
            return true;
        }
        f->after_lf = data[i] == '\n';
    }
    return false;
}

size_t
frame_feed(struct frame *f, const char *data, size_t len)
{
    size_t used = 0;

    while (used < len && f->status == 0 && !f->complete) {
        size_t chunk = len - used;
        size_t n;
        enum http_errno err;

        if (!f->head_done) {
            if (f->fed >= f->max_head) {
                fail(f, 431, "request head too large");
                break;
            }
            if (chunk > f->max_head - f->fed) {
                chunk = f->max_head - f->fed;
            }
        } else if (f->fed + chunk > frame_raw_cap(f->max_head, f->max_body)) {
            if (f->fed >= frame_raw_cap(f->max_head, f->max_body)) {
                fail(f, 413, "request too large");
                break;
            }
            chunk = frame_raw_cap(f->max_head, f->max_body) - f->fed;
        }
        n = http_parser_execute(&f->parser, &settings, data + used, chunk);
        if (f->head_len == 0) {
            /* head bytes only: the pause stops execute at the head's end */
            if (has_fold(f, data + used, n)) {
                fail(f, 400, "obs-fold in the request head");
            }
        }
        used += n;
        f->fed += n;
        err = HTTP_PARSER_ERRNO(&f->parser);
        if (f->status != 0) {
            break;
        }
        if (err == HPE_PAUSED) {
            if (f->complete) {
                break;
            }
            /* Paused at the end of the head, before its last LF. */
            f->head_len = f->fed + 1;
            http_parser_pause(&f->parser, 0);
            continue;
        }
        if (err != HPE_OK) {
            switch (err) {
            case HPE_HEADER_OVERFLOW:
                fail(f, 431, "request head too large");
                break;
            case HPE_UNEXPECTED_CONTENT_LENGTH:
                fail(f, 400, "conflicting Content-Length");
                break;
            case HPE_INVALID_CONTENT_LENGTH:
                fail(f, 400, "invalid Content-Length");
                break;
            case HPE_INVALID_TRANSFER_ENCODING:
                fail(f, 400, "Transfer-Encoding other than a final chunked");
                break;
            default:
                fail(f, 400, http_errno_description(err));
                break;
            }
            break;
        }
    }
    return used;
}

bool
frame_wants_continue(const struct frame *f)
{
    return f->head_done && !f->complete && f->status == 0 && f->expect_continue;
}
