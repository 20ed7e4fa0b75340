/* proxy/admin_backup.c: `backup FILE` (admin_int.h): a compacted copy
 * of the store (store_backup) and how to restore it with the CA files. */
#include "proxy/admin_int.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "common/ca.h"
#include "common/store.h"

/* ---------------------------------------------------------------- backup */

int
admin_cmd_backup(struct app *app, const struct admin_cmd *cmd, FILE *out,
                 FILE *err)
{
    static const char *const ca_files[] = { CA_ROOT_FILE, CA_ROOT_KEY_FILE,
                                            CA_INT_FILE, CA_INT_KEY_FILE };
    const char *dir = app->cfg->server.data_dir;
    char errbuf[512];
    struct stat sb;
    cJSON *doc;
    cJSON *files;

    if (store_backup(app->st, cmd->arg, errbuf, sizeof(errbuf)) != AP_OK) {
        return admin_fail(err, "backup: %s", errbuf);
    }
    if (stat(cmd->arg, &sb) != 0) {
        return admin_fail(err, "backup: %s: %s", cmd->arg, strerror(errno));
    }
    if (cmd->json) {
        doc = cJSON_CreateObject();
        if (doc != NULL) {
            cJSON_AddStringToObject(doc, "file", cmd->arg);
            cJSON_AddNumberToObject(doc, "bytes", (double)sb.st_size);
            cJSON_AddStringToObject(doc, "data_dir", dir);
            files = cJSON_AddArrayToObject(doc, "ca_files");
            for (size_t i = 0; i < sizeof(ca_files) / sizeof(ca_files[0]);
                 i++) {
                cJSON_AddItemToArray(files, cJSON_CreateString(ca_files[i]));
            }
        }
        return admin_print_json(out, err, doc);
    }
    fprintf(out,
            "wrote %s (%lld bytes): a compacted copy of %s/db\n"
            "to restore into NEW_DIR (data_dir of the restored proxy):\n"
            "  mkdir -m 700 -p NEW_DIR/db && cp %s NEW_DIR/db/data.mdb\n"
            "  cp -p %s/%s %s/%s %s/%s %s/%s NEW_DIR/\n",
            cmd->arg, (long long)sb.st_size, dir, cmd->arg, dir,
            ca_files[0], dir, ca_files[1], dir, ca_files[2], dir,
            ca_files[3]);
    return ADMIN_EXIT_OK;
}
