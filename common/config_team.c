/* common/config_team.c: the [team.NAME] sections of the configuration
 * (common/config.h): their keys as the loader reads them, their checks as
 * a whole, and the look-up by name. */
#include "common/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config_int.h"
#include "common/httpc.h"
#include "common/netpolicy.h"

/* A key of a [team.NAME] section. */
int
config_team_kv(struct config *cfg, char *msg, size_t msglen,
               const char *tname, const char *key, const char *value)
{
    static const struct {
        const char *key;
        size_t offset;
    } strs[] = {
        { "networks", offsetof(struct config_team, networks) },
        { "allow_names", offsetof(struct config_team, allow_names) },
        { "allow_ips", offsetof(struct config_team, allow_ips) },
        { "profiles", offsetof(struct config_team, profiles) },
        { "webhook", offsetof(struct config_team, webhook) },
        { "webhook_ca", offsetof(struct config_team, webhook_ca) },
        { "webhook_secret_file",
          offsetof(struct config_team, webhook_secret_file) },
    };
    struct config_team *t = NULL;
    unsigned long long v = 0;

    if (tname[0] == '\0' || strlen(tname) > 64 ||
        strspn(tname, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "0123456789-_.") != strlen(tname)) {
        snprintf(msg, msglen,
                 "team name must be 1-64 letters, digits, '-', '_', '.'");
        return 0;
    }
    for (size_t i = 0; i < cfg->n_teams; i++) {
        if (strcmp(cfg->teams[i].name, tname) == 0) {
            t = &cfg->teams[i];
        }
    }
    if (t == NULL) {
        if (cfg->n_teams >= CONFIG_MAX_TEAMS) {
            snprintf(msg, msglen, "at most %d teams",
                     CONFIG_MAX_TEAMS);
            return 0;
        }
        t = &cfg->teams[cfg->n_teams++];
        t->name = strdup(tname);
        if (t->name == NULL) {
            snprintf(msg, msglen, "out of memory");
            return 0;
        }
        for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
            char **f = (char **)(void *)((char *)t + strs[i].offset);

            *f = strdup("");
            if (*f == NULL) {
                snprintf(msg, msglen, "out of memory");
                return 0;
            }
        }
    }
    if (strcmp(key, "max_validity_days") == 0) {
        if (config_parse_number(value, 0, 3650, &v) != AP_OK) {
            snprintf(msg, msglen, "max_validity_days: expected "
                     "a whole number from 0 to 3650");
            return 0;
        }
        t->max_validity_days = (unsigned)v;
        return 1;
    }
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        char **f = (char **)(void *)((char *)t + strs[i].offset);

        if (strcmp(key, strs[i].key) == 0) {
            free(*f);
            *f = strdup(value);
            if (*f == NULL) {
                snprintf(msg, msglen, "out of memory");
                return 0;
            }
            return 1;
        }
    }
    snprintf(msg, msglen,
             "unknown key %s in [team.%s] (networks, allow_names, allow_ips, "
             "profiles, max_validity_days, webhook, webhook_ca, "
             "webhook_secret_file)", key, tname);
    return 0;
}

/* True when the blocks a and b share an address. */
static bool
cidr_overlap(const struct netpolicy_cidr *a, const struct netpolicy_cidr *b)
{
    unsigned bits = a->prefix < b->prefix ? a->prefix : b->prefix;

    if (a->family != b->family) {
        return false;
    }
    for (unsigned i = 0; i < bits; i++) {
        unsigned mask = 0x80u >> (i % 8);

        if ((a->addr[i / 8] & mask) != (b->addr[i / 8] & mask)) {
            return false;
        }
    }
    return true;
}

/* The [team.NAME] sections: lists that parse, known profiles, an https
 * webhook, networks that no two teams share (an address must name one
 * team: the choice would otherwise depend on file order). On error msg
 * says why and *tsec (a team's name) and *key where. */
ap_err
config_check_teams(const struct config *cfg, char *msg, size_t msglen,
                   const char **tsec, const char **key)
{
    struct netpolicy_cidr (*nets)[NETPOLICY_MAX_CIDRS] = NULL;
    size_t n_nets[CONFIG_MAX_TEAMS];
    struct netpolicy_cidr ips[NETPOLICY_MAX_CIDRS];
    char why[200];
    size_t n;
    ap_err rc = AP_EINVAL;

    if (cfg->n_teams == 0) {
        return AP_OK;
    }
    nets = calloc(cfg->n_teams, sizeof(*nets));
    if (nets == NULL) {
        snprintf(msg, msglen, "out of memory");
        return AP_ENOMEM;
    }
    for (size_t i = 0; i < cfg->n_teams; i++) {
        const struct config_team *t = &cfg->teams[i];
        const char *p = t->profiles;
        struct httpc_url u;

        *tsec = t->name;
        *key = "networks";
        if (netpolicy_parse_list(t->networks, nets[i], NETPOLICY_MAX_CIDRS,
                                 &n_nets[i], why, sizeof(why)) != AP_OK) {
            snprintf(msg, msglen, "[team.%s] networks: %s", t->name, why);
            goto out;
        }
        for (size_t j = 0; j < i; j++) {
            for (size_t a = 0; a < n_nets[i]; a++) {
                for (size_t b = 0; b < n_nets[j]; b++) {
                    if (cidr_overlap(&nets[i][a], &nets[j][b])) {
                        snprintf(msg, msglen, "[team.%s] networks overlap "
                                 "those of [team.%s]: an address must "
                                 "name one team", t->name,
                                 cfg->teams[j].name);
                        goto out;
                    }
                }
            }
        }
        *key = "allow_ips";
        if (netpolicy_parse_list(t->allow_ips, ips, NETPOLICY_MAX_CIDRS, &n,
                                 why, sizeof(why)) != AP_OK) {
            snprintf(msg, msglen, "[team.%s] allow_ips: %s", t->name, why);
            goto out;
        }
        /* The limits of an EAB key's policy (proxy/policy.h). */
        *key = "allow_names";
        n = 0;
        for (const char *w = t->allow_names; *w != '\0';) {
            size_t len;

            w += strspn(w, " \t,");
            len = strcspn(w, " \t,");
            if (len == 0) {
                break;
            }
            if (++n > 64 || len > 255) {
                snprintf(msg, msglen, "[team.%s] allow_names: at most 64 "
                         "names of 255 characters", t->name);
                goto out;
            }
            w += len;
        }
        *key = "profiles";
        while (*p != '\0') {
            char name[65];
            size_t len;

            p += strspn(p, " \t,");
            len = strcspn(p, " \t,");
            if (len == 0) {
                break;
            }
            snprintf(name, sizeof(name), "%.*s", (int)len, p);
            if (len >= sizeof(name) || config_profile_find(cfg, name) ==
                                           NULL) {
                snprintf(msg, msglen, "[team.%s] profiles: %.64s has no "
                         "[profile.%.64s] section", t->name, name, name);
                goto out;
            }
            p += len;
        }
        *key = "webhook";
        if (t->webhook[0] != '\0' &&
            (strncmp(t->webhook, "https://", 8) != 0 ||
             httpc_url_split(t->webhook, &u) != AP_OK || u.has_userinfo)) {
            snprintf(msg, msglen, "[team.%s] webhook must be an https:// "
                     "URL without user:password", t->name);
            goto out;
        }
        if (t->webhook[0] == '\0' &&
            (t->webhook_ca[0] != '\0' || t->webhook_secret_file[0] != '\0')) {
            *key = t->webhook_ca[0] != '\0' ? "webhook_ca"
                                             : "webhook_secret_file";
            snprintf(msg, msglen, "[team.%s] %s needs a webhook", t->name,
                     *key);
            goto out;
        }
    }
    rc = AP_OK;
out:
    free(nets);
    return rc;
}

const struct config_team *
config_team_find(const struct config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_teams; i++) {
        if (strcmp(cfg->teams[i].name, name) == 0) {
            return &cfg->teams[i];
        }
    }
    return NULL;
}
