/* fuzz_frame: proxy/frame.c, where the connection gate decides that one
 * HTTP/1.1 request ends. The input is fed whole and then split at a
 * point the input chooses (its first byte); both feeds must agree on
 * whether the request is accepted and where it ends, since a
 * connection's bytes arrive in any split. */
#include "test/fuzz/fuzz.h"

#include "proxy/frame.h"

struct outcome {
    size_t consumed;
    int status;
    int complete;
};

static struct outcome
feed(const char *data, size_t size, size_t split)
{
    struct frame f;
    struct outcome o = { 0, 0, 0 };

    frame_init(&f, 8192, 65536);
    o.consumed = frame_feed(&f, data, split);
    if (!f.complete && f.status == 0) {
        o.consumed += frame_feed(&f, data + split, size - split);
    }
    (void)frame_wants_continue(&f);
    o.status = f.status;
    o.complete = f.complete;
    if (o.consumed > size || (f.status != 0 && f.why == NULL)) {
        abort();
    }
    return o;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct outcome whole;
    struct outcome split;
    size_t at;

    if (size < 1) {
        return 0;
    }
    at = size > 1 ? data[0] % size : 0;
    whole = feed((const char *)data + 1, size - 1, size - 1);
    split = feed((const char *)data + 1, size - 1, at > size - 1 ? 0 : at);
    /* Which refusal is named may depend on where the bytes were split
     * (the first rule broken in the bytes seen so far); whether the
     * request is refused, and where an accepted one ends, may not. */
    if (whole.complete != split.complete ||
        (whole.status != 0) != (split.status != 0) ||
        (whole.complete && whole.consumed != split.consumed)) {
        abort(); /* the split changed where the request ends */
    }
    return 0;
}
