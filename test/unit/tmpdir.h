/* test/unit/tmpdir.h: removing a test's temporary directory (mkdtemp)
 * with the files directly in it (an LMDB environment, a journal, an audit
 * file); nothing below a subdirectory. Header-only, like rows.h. */
#ifndef AP_TEST_UNIT_TMPDIR_H
#define AP_TEST_UNIT_TMPDIR_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static inline void
tmpdir_remove(const char *dir)
{
    char path[512];
    struct dirent *e;
    DIR *d = opendir(dir);

    if (d == NULL) {
        return;
    }
    for (e = readdir(d); e != NULL; e = readdir(d)) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) <
                (int)sizeof(path)) {
            (void)unlink(path);
        }
    }
    closedir(d);
    (void)rmdir(dir);
}

#endif /* AP_TEST_UNIT_TMPDIR_H */
