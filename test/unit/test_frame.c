/* test/unit/test_frame.c: proxy/frame.c, where a request ends and which
 * framings are refused. Each row is fed whole, then byte by byte (the gate
 * sees requests in pieces), and must give the same verdict both ways. */
#include "test/unit/rows.h"

#include <stdio.h>

#include "proxy/frame.h"

#define HEAD_CAP 1024
#define BODY_CAP 64

struct row {
    const char *name;
    const char *req;
    int status;         /* 0: accepted */
    bool complete;      /* one whole request consumed */
    size_t msg_len;     /* bytes of that request (0: all of req) */
    bool cont;          /* Expect: 100-continue pending after the head */
};

#define P "POST /acme/new-order HTTP/1.1\r\nHost: a\r\n"

static const struct row good[] = {
    { "get", "GET /directory HTTP/1.1\r\nHost: a\r\n\r\n", 0, true, 0, false },
    { "http_1_0", "GET / HTTP/1.0\r\n\r\n", 0, true, 0, false },
    { "post_content_length", P "Content-Length: 3\r\n\r\nabc", 0, true, 0, false },
    { "post_chunked", P "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
      0, true, 0, false },
    { "body_at_cap", P "Content-Length: 64\r\n\r\n"
      "0123456789012345678901234567890123456789012345678901234567890123",
      0, true, 0, false },
    { "pipelined_second_left", "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\n\r\n",
      0, true, 28, false },
    { "body_then_next_request", P "Content-Length: 2\r\n\r\n{}GET /",
      0, true, sizeof(P "Content-Length: 2\r\n\r\n{}") - 1, false },
    { "head_incomplete", "GET /directory HTTP/1.1\r\nHost: a\r\n", 0, false, 0, false },
    { "body_incomplete", P "Content-Length: 10\r\n\r\nabc", 0, false, 0, false },
    { "expect_continue", P "Content-Length: 2\r\nExpect: 100-continue\r\n\r\n",
      0, false, 0, true },
    { "expect_continue_not_last", P "Expect: 100-Continue \r\nContent-Length: 2\r\n\r\n",
      0, false, 0, true },
    { "expect_other_value", P "Content-Length: 2\r\nExpect: 100-continues\r\n\r\n",
      0, false, 0, false },
    { "bare_lf_lines", "GET / HTTP/1.1\nHost: a\n\n", 0, true, 0, false },
};

static const struct row bad[] = {
    { "two_content_length", P "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
      400, false, 0, false },
    { "two_equal_content_length", P "Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
      400, false, 0, false },
    { "content_length_list", P "Content-Length: 3, 3\r\n\r\nabc", 400, false, 0, false },
    { "content_length_plus", P "Content-Length: +3\r\n\r\nabc", 400, false, 0, false },
    { "content_length_negative", P "Content-Length: -1\r\n\r\n", 400, false, 0, false },
    { "cl_then_te", P "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
      400, false, 0, false },
    { "te_then_cl", P "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
      400, false, 0, false },
    { "two_te", P "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
      400, false, 0, false },
    { "te_not_chunked", P "Transfer-Encoding: gzip\r\n\r\nabc", 400, false, 0, false },
    { "te_chunked_not_last", P "Transfer-Encoding: chunked, gzip\r\n\r\n",
      400, false, 0, false },
    { "te_identity", P "Transfer-Encoding: identity\r\n\r\n", 400, false, 0, false },
    { "space_before_colon", P "Content-Length : 3\r\n\r\nabc", 400, false, 0, false },
    { "tab_before_colon", P "Content-Length\t: 3\r\n\r\nabc", 400, false, 0, false },
    { "obs_fold", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400, false, 0, false },
    { "obs_fold_tab", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", 400, false, 0, false },
    { "leading_space_field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400, false, 0, false },
    { "bad_chunk_size", P "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
      400, false, 0, false },
    { "bad_method", "G(T / HTTP/1.1\r\n\r\n", 400, false, 0, false },
    { "bad_version_digit", "GET / HTTP/x.1\r\n\r\n", 400, false, 0, false },
    { "cr_in_value", "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", 400, false, 0, false },
    { "body_over_cap", P "Content-Length: 65\r\n\r\n", 413, false, 0, false },
    { "chunked_over_cap", P "Transfer-Encoding: chunked\r\n\r\n"
      "41\r\n01234567890123456789012345678901234567890123456789012345678901234\r\n"
      "0\r\n\r\n", 413, false, 0, false },
};

static void
feed_whole(const struct row *r, struct frame *f)
{
    size_t n = strlen(r->req);
    size_t used;

    frame_init(f, HEAD_CAP, BODY_CAP);
    used = frame_feed(f, r->req, n);
    if (r->complete && r->status == 0) {
        assert_int_equal(used, r->msg_len ? r->msg_len : n);
    }
}

static void
feed_bytes(const struct row *r, struct frame *f)
{
    size_t n = strlen(r->req);
    size_t used = 0;

    frame_init(f, HEAD_CAP, BODY_CAP);
    for (size_t i = 0; i < n && !f->complete && f->status == 0; i++) {
        used += frame_feed(f, r->req + i, 1);
    }
    if (r->complete && r->status == 0) {
        assert_int_equal(used, r->msg_len ? r->msg_len : n);
    }
}

static void
check(const struct row *r, const struct frame *f)
{
    assert_int_equal(f->status, r->status);
    if (r->status != 0) {
        assert_non_null(f->why);
        return;
    }
    assert_int_equal(f->complete, r->complete);
    if (r->complete) {
        assert_int_equal(f->fed, r->msg_len ? r->msg_len : strlen(r->req));
    }
    assert_int_equal(frame_wants_continue(f), r->cont);
}

static void
test_row(void **state)
{
    const struct row *r = *state;
    struct frame f;

    feed_whole(r, &f);
    check(r, &f);
    feed_bytes(r, &f);
    check(r, &f);
}

/* The head cap counts the request line and fields, not the body. */
static void
test_head_cap(void **state)
{
    char req[HEAD_CAP + 64];
    struct frame f;
    int n;

    (void)state;
    /* exactly HEAD_CAP bytes of head: accepted */
    n = snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nX: %0*d\r\n\r\n",
                 HEAD_CAP - (int)strlen("GET / HTTP/1.1\r\nX: \r\n\r\n"), 0);
    assert_int_equal(n, HEAD_CAP);
    frame_init(&f, HEAD_CAP, BODY_CAP);
    assert_int_equal(frame_feed(&f, req, (size_t)n), (size_t)n);
    assert_true(f.complete);
    /* one byte more: 431 */
    n = snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nX: %0*d\r\n\r\n",
                 HEAD_CAP + 1 - (int)strlen("GET / HTTP/1.1\r\nX: \r\n\r\n"), 0);
    frame_init(&f, HEAD_CAP, BODY_CAP);
    (void)frame_feed(&f, req, (size_t)n);
    assert_int_equal(f.status, 431);
}

static void
test_target_cap(void **state)
{
    static char req[FRAME_MAX_TARGET + 64];
    struct frame f;
    size_t n;

    (void)state;
    memcpy(req, "GET /", 5);
    memset(req + 5, 'a', FRAME_MAX_TARGET);
    memcpy(req + 5 + FRAME_MAX_TARGET, " HTTP/1.1\r\n\r\n", 14);
    n = 5 + FRAME_MAX_TARGET + 13;
    frame_init(&f, FRAME_MAX_TARGET * 2, BODY_CAP);
    (void)frame_feed(&f, req, n);
    assert_int_equal(f.status, 414);
}

static void
test_field_count(void **state)
{
    char req[4096];
    size_t off = 0;
    struct frame f;

    (void)state;
    off += (size_t)snprintf(req + off, sizeof(req) - off, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < FRAME_MAX_FIELDS; i++) {
        off += (size_t)snprintf(req + off, sizeof(req) - off, "X%d: v\r\n", i);
    }
    off += (size_t)snprintf(req + off, sizeof(req) - off, "\r\n");
    frame_init(&f, sizeof(req), BODY_CAP);
    (void)frame_feed(&f, req, off);
    assert_true(f.complete);
    off -= 2;
    off += (size_t)snprintf(req + off, sizeof(req) - off, "Y: v\r\n\r\n");
    frame_init(&f, sizeof(req), BODY_CAP);
    (void)frame_feed(&f, req, off);
    assert_int_equal(f.status, 431);
}

int
main(void)
{
    struct test_list l = { 0 };

    ADD_ROWS(&l, good, test_row);
    ADD_ROWS(&l, bad, test_row);
    add_test(&l, "head_cap_counts_head_only", test_head_cap, NULL);
    add_test(&l, "target_cap_is_414", test_target_cap, NULL);
    add_test(&l, "field_count_cap_is_431", test_field_count, NULL);
    return _cmocka_run_group_tests("frame", l.tests, l.n, NULL, NULL);
}
