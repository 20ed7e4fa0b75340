/* test/unit/test_httpc.c: common/httpc.c's httpc_get on its kept
 * per-thread libcurl handle: every GET connects anew (a server that keeps
 * connections alive sees one connection per GET), goes to the address
 * pinned for that GET (never to the previous GET's pin for the same
 * host:port), and a thread's later GETs run on its kept handle.
 *
 * A GET's own limits (time, body size) hold on the kept handle and do not
 * carry over to the next GET; no proxy named by the environment is used.
 *
 * Two tiny HTTP servers on the same port, 127.0.0.1 ("A") and 127.0.0.2
 * ("B"), answer every request with their letter and keep the connection
 * open. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/httpc.h"
#include "common/timeutil.h"

struct srv {
    int fd;
    char letter;
    atomic_int accepts;
    atomic_bool stop;
    pthread_t thread;
};

static int
listen_on(const char *ip, unsigned port, unsigned *bound)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0) {
        return -1;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1 ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(fd, 8) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        close(fd);
        return -1;
    }
    *bound = ntohs(sa.sin_port);
    return fd;
}

/* Serves until stop: every request (read up to its blank line) gets a
 * one-byte body; connections stay open until the client closes them. */
static void *
srv_main(void *arg)
{
    struct srv *s = arg;
    struct pollfd p[9];
    char req[2048];
    size_t have[9] = { 0 };
    nfds_t n = 1;

    p[0].fd = s->fd;
    p[0].events = POLLIN;
    while (!atomic_load(&s->stop)) {
        if (poll(p, n, 50) <= 0) {
            continue;
        }
        if ((p[0].revents & POLLIN) != 0 && n < 9) {
            int c = accept(s->fd, NULL, NULL);

            if (c >= 0) {
                atomic_fetch_add(&s->accepts, 1);
                p[n].fd = c;
                p[n].events = POLLIN;
                p[n].revents = 0;
                have[n] = 0;
                n++;
            }
        }
        for (nfds_t i = 1; i < n; i++) {
            ssize_t r;

            if (p[i].revents == 0) {
                continue;
            }
            r = read(p[i].fd, req + 0, sizeof(req) - 1);
            if (r <= 0) {
                close(p[i].fd);
                p[i] = p[n - 1];
                have[i] = have[n - 1];
                n--;
                i--;
                continue;
            }
            req[r] = '\0';
            if (strstr(req, "\r\n\r\n") != NULL) {
                char ans[128];
                int m = snprintf(ans, sizeof(ans),
                                 "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
                                 "Connection: keep-alive\r\n\r\n%c",
                                 s->letter);

                (void)!write(p[i].fd, ans, (size_t)m);
            }
        }
    }
    for (nfds_t i = 0; i < n; i++) {
        close(p[i].fd);
    }
    return NULL;
}

static struct srv g_a, g_b;
static unsigned g_port;

static int
setup(void **state)
{
    (void)state;
    for (int tries = 0; tries < 20; tries++) {
        unsigned pb = 0;

        g_a.fd = listen_on("127.0.0.1", 0, &g_port);
        if (g_a.fd < 0) {
            return -1;
        }
        g_b.fd = listen_on("127.0.0.2", g_port, &pb);
        if (g_b.fd >= 0) {
            break;
        }
        close(g_a.fd);
        g_a.fd = -1;
    }
    if (g_a.fd < 0 || g_b.fd < 0) {
        return -1;
    }
    g_a.letter = 'A';
    g_b.letter = 'B';
    if (pthread_create(&g_a.thread, NULL, srv_main, &g_a) != 0 ||
        pthread_create(&g_b.thread, NULL, srv_main, &g_b) != 0) {
        return -1;
    }
    return httpc_global_init() == AP_OK ? 0 : -1;
}

static int
teardown(void **state)
{
    (void)state;
    atomic_store(&g_a.stop, true);
    atomic_store(&g_b.stop, true);
    pthread_join(g_a.thread, NULL);
    pthread_join(g_b.thread, NULL);
    httpc_global_fini();
    return 0;
}

/* One GET of http://pin.test:PORT/ (or of url), pinned to addr (NULL:
 * none); returns the body's letter, or 0. */
static char
get(const char *url, const char *addr)
{
    char u[128];
    struct httpc_req req;
    struct httpc_resp resp;
    char c = 0;

    snprintf(u, sizeof(u), "http://pin.test:%u/x", g_port);
    memset(&req, 0, sizeof(req));
    req.url = url != NULL ? url : u;
    req.pin_host = "pin.test";
    req.pin_port = g_port;
    req.pin_addr = addr;
    req.timeout_ms = 3000;
    req.max_body = 16;
    req.protocols = "http";
    httpc_resp_init(&resp);
    if (httpc_get(&req, &resp) == AP_OK && resp.status == 200 &&
        resp.body.len == 1) {
        c = resp.body.data[0];
    }
    httpc_resp_fini(&resp);
    return c;
}

/* The same host:port pinned to A, B, A: each GET reaches its own pin,
 * on a new connection, on the thread's kept handle. */
static void
test_pins_and_fresh_connections(void **state)
{
    unsigned long long r0 = httpc_get_handles_reused();
    int a0 = atomic_load(&g_a.accepts);
    int b0 = atomic_load(&g_b.accepts);
    char ip_url[128];

    (void)state;
    httpc_thread_release();
    assert_int_equal(get(NULL, "127.0.0.1"), 'A');
    assert_int_equal(get(NULL, "127.0.0.2"), 'B');
    assert_int_equal(get(NULL, "127.0.0.1"), 'A');
    assert_int_equal(get(NULL, "127.0.0.1"), 'A');
    /* an IP literal, unpinned, after pins */
    snprintf(ip_url, sizeof(ip_url), "http://127.0.0.2:%u/x", g_port);
    assert_int_equal(get(ip_url, NULL), 'B');
    assert_int_equal(atomic_load(&g_a.accepts) - a0, 3);
    assert_int_equal(atomic_load(&g_b.accepts) - b0, 2);
    assert_int_equal(httpc_get_handles_reused() - r0, 4);
    httpc_thread_release();
    /* a released thread starts a new handle */
    assert_int_equal(get(NULL, "127.0.0.2"), 'B');
    assert_int_equal(httpc_get_handles_reused() - r0, 4);
}

static void *
thread_get(void *arg)
{
    char *out = arg;

    out[0] = get(NULL, "127.0.0.2");
    out[1] = get(NULL, "127.0.0.1");
    return NULL;
}

/* Another thread has a handle of its own (the kept handle is freed when
 * it ends: the sanitizer build would report a leak). */
static void
test_thread_own_handle(void **state)
{
    unsigned long long r0 = httpc_get_handles_reused();
    pthread_t t;
    char got[2] = { 0, 0 };

    (void)state;
    assert_int_equal(pthread_create(&t, NULL, thread_get, got), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(got[0], 'B');
    assert_int_equal(got[1], 'A');
    assert_int_equal(httpc_get_handles_reused() - r0, 1);
}

/* A server that never answers (a listening socket nobody accepts on):
 * the GET ends at its own time limit, through the kept handle's loop,
 * and the next GET on that handle has its own limit again. A body over
 * max_body is AP_ETOOBIG, and the next GET's larger cap holds. */
static void
test_limits_per_get(void **state)
{
    struct httpc_req req;
    struct httpc_resp resp;
    unsigned silent_port = 0;
    int silent = listen_on("127.0.0.1", 0, &silent_port);
    char u[128];
    long long t0;
    long long took;
    ap_err rc;

    (void)state;
    assert_true(silent >= 0);
    assert_int_equal(get(NULL, "127.0.0.1"), 'A'); /* a kept handle */
    snprintf(u, sizeof(u), "http://pin.test:%u/x", silent_port);
    memset(&req, 0, sizeof(req));
    req.url = u;
    req.pin_host = "pin.test";
    req.pin_port = silent_port;
    req.pin_addr = "127.0.0.1";
    req.timeout_ms = 300;
    req.max_body = 16;
    req.protocols = "http";
    httpc_resp_init(&resp);
    t0 = time_mono_ms();
    rc = httpc_get(&req, &resp);
    took = time_mono_ms() - t0;
    httpc_resp_fini(&resp);
    close(silent);
    assert_int_equal(rc, AP_ETIMEOUT);
    assert_true(took >= 250 && took < 1500);
    /* the next GET: its own (longer) limit, its own pin */
    assert_int_equal(get(NULL, "127.0.0.2"), 'B');

    /* a one-byte body over a zero-byte cap ... */
    snprintf(u, sizeof(u), "http://pin.test:%u/x", g_port);
    req.url = u;
    req.pin_port = g_port;
    req.timeout_ms = 3000;
    req.max_body = 0;
    httpc_resp_init(&resp);
    rc = httpc_get(&req, &resp);
    httpc_resp_fini(&resp);
    assert_int_equal(rc, AP_ETOOBIG);
    /* ... and the next GET's cap of 16 takes it */
    assert_int_equal(get(NULL, "127.0.0.1"), 'A');
}

/* http_proxy / all_proxy in the environment name a proxy that does not
 * exist: every GET still goes straight to its pinned address. */
static void
test_no_proxy_from_env(void **state)
{
    int a0 = atomic_load(&g_a.accepts);

    (void)state;
    assert_int_equal(setenv("http_proxy", "http://127.0.0.3:9", 1), 0);
    assert_int_equal(setenv("HTTPS_PROXY", "http://127.0.0.3:9", 1), 0);
    assert_int_equal(setenv("all_proxy", "http://127.0.0.3:9", 1), 0);
    assert_int_equal(get(NULL, "127.0.0.1"), 'A');
    httpc_thread_release();
    assert_int_equal(get(NULL, "127.0.0.1"), 'A'); /* a new handle too */
    (void)unsetenv("http_proxy");
    (void)unsetenv("HTTPS_PROXY");
    (void)unsetenv("all_proxy");
    assert_int_equal(atomic_load(&g_a.accepts) - a0, 2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pins_and_fresh_connections),
        cmocka_unit_test(test_thread_own_handle),
        cmocka_unit_test(test_limits_per_get),
        cmocka_unit_test(test_no_proxy_from_env),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
