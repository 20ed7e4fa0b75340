/* proxy/app.c: the URLs of the resources, and the views of the
 * configuration through app->views (app.h). */
#include "proxy/app.h"

#include <stdio.h>

struct app *
app_acquire(struct app *app)
{
    struct app *view = NULL;

    if (app->snaps != NULL && app->views != NULL) {
        view = app->views->get(app);
    }
    return view != NULL ? view : app;
}

void
app_release(struct app *view)
{
    if (view != NULL && view->snap != NULL && view->views != NULL) {
        view->views->put(view);
    }
}

void
app_url(const struct app *app, char *out, size_t outlen, const char *path,
        const char *id)
{
    snprintf(out, outlen, "%s%s%s", app->base, path, id ? id : "");
}
