/* fuzz_config: common/config.c's config_load (inih underneath, then the
 * typed values, profiles, the raw [adapter] keys and their line numbers).
 * config_load reads a path, so each input is written to one temporary
 * file of this process (removed at exit) and loaded from there. */
#include "test/fuzz/fuzz.h"

#include <stdio.h>
#include <unistd.h>

#include "common/config.h"

static char path[64];

static void
remove_file(void)
{
    if (path[0] != '\0') {
        (void)unlink(path);
    }
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *tmp = getenv("TMPDIR");
    int fd;

    (void)argc;
    (void)argv;
    (void)snprintf(path, sizeof(path), "%.40s/fuzz_config.XXXXXX",
                   tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    fd = mkstemp(path);
    if (fd == -1) {
        perror("fuzz_config: mkstemp");
        exit(1);
    }
    close(fd);
    atexit(remove_file);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config cfg;
    char errbuf[512];
    FILE *f = fopen(path, "w");

    if (f == NULL) {
        abort();
    }
    if (size > 0 && fwrite(data, 1, size, f) != size) {
        abort();
    }
    if (fclose(f) != 0) {
        abort();
    }
    if (config_load(path, &cfg, errbuf, sizeof(errbuf)) == AP_OK) {
        /* Whatever loads is complete: the keys every caller reads. */
        if (cfg.server.listen == NULL || cfg.server.base_url == NULL ||
            cfg.server.data_dir == NULL ||
            cfg.n_profiles > CONFIG_MAX_PROFILES) {
            abort();
        }
        config_fini(&cfg);
    } else if (memchr(errbuf, '\0', sizeof(errbuf)) == NULL) {
        abort();
    }
    return 0;
}
