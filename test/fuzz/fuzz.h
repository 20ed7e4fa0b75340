/* test/fuzz/fuzz.h: what the libFuzzer targets share.
 *
 * Each test/fuzz/fuzz_<name>.c defines LLVMFuzzerTestOneInput (and, when
 * it needs one-time set-up, LLVMFuzzerInitialize) for one parser of
 * untrusted input; its seeds live in test/fuzz/corpus/<name>/. The
 * Makefile builds every such file with clang, ASan, UBSan and libFuzzer
 * (build/fuzz/fuzz_<name>); test/fuzz/run.sh runs them. A target must not
 * leak, must not write outside its own temporary files and must bound
 * its own work, so that any crash, leak or timeout is a finding. */
#ifndef AP_TEST_FUZZ_FUZZ_H
#define AP_TEST_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A NUL-terminated copy of the input (for parsers of C strings); NULL on
 * ENOMEM. Embedded NULs stay, so the parser sees a shorter string. */
static inline char *
fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (s != NULL) {
        if (size > 0) {
            memcpy(s, data, size);
        }
        s[size] = '\0';
    }
    return s;
}

#endif /* AP_TEST_FUZZ_FUZZ_H */
