/* proxy/app.c: the URLs of the resources (app.h). */
#include "proxy/app.h"

#include <stdio.h>

void
app_url(const struct app *app, char *out, size_t outlen, const char *path,
        const char *id)
{
    snprintf(out, outlen, "%s%s%s", app->base, path, id ? id : "");
}
