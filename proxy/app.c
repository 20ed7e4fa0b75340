/* proxy/app.c: the URLs of the resources, and the views of the
 * configuration through app->views (app.h). */
#include "proxy/app.h"

#include <stdio.h>
#include <string.h>

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

const struct app_pki *
app_pki_find(const struct app *app, const char *name)
{
    if (name == NULL || name[0] == '\0') {
        name = CONFIG_DEFAULT_ADAPTER;
    }
    for (size_t i = 0; i < app->n_pkis; i++) {
        if (strcmp(app->pkis[i].name, name) == 0) {
            return &app->pkis[i];
        }
    }
    return NULL;
}

bool
app_pki_view(const struct app *app, const char *name, struct app *out)
{
    const struct app_pki *p = app_pki_find(app, name);

    if (p == NULL) {
        bool dflt = name == NULL || name[0] == '\0' ||
                    strcmp(name, CONFIG_DEFAULT_ADAPTER) == 0;

        /* An app without a table (unit tests): its one adapter is the
         * default. */
        if (app->n_pkis != 0 || !dflt || app->adapter == NULL) {
            return false;
        }
        *out = *app;
        return true;
    }
    *out = *app;
    out->adapter = p->ops;
    out->adapter_state = p->state;
    out->issuer = p->issuer;
    out->adapter_name = p->name;
    return true;
}

const char *
app_adapter_name(const struct app *app)
{
    return app->adapter_name != NULL ? app->adapter_name
                                     : CONFIG_DEFAULT_ADAPTER;
}
