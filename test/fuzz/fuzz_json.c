/* fuzz_json: common/json.c, the strict JSON reader every request body and
 * every PKI answer goes through (depth cap, duplicate members, trailing
 * bytes, UTF-8), and its typed getters. */
#include "test/fuzz/fuzz.h"

#include <cjson/cJSON.h>

#include "common/json.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *root = NULL;
    const char *s;
    const cJSON *arr;
    long long n;
    bool b;

    if (json_parse((const char *)data, size, &root) != AP_OK) {
        return 0;
    }
    /* The getters on whatever came out: type confusion must not crash. */
    (void)json_get_string(root, "payload", 1024, &s);
    (void)json_get_bool(root, "onlyReturnExisting", &b);
    (void)json_get_array(root, "identifiers", &arr);
    (void)json_get_int(root, "status", -1000, 1000, &n);
    if (cJSON_IsObject(root)) {
        const cJSON *it;

        cJSON_ArrayForEach(it, root) {
            (void)json_get_string(root, it->string, 64, &s);
            (void)json_get_int(root, it->string, 0, 1LL << 40, &n);
        }
    }
    cJSON_Delete(root);
    return 0;
}
