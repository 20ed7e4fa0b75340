/* common/config_int.h: what common/config.c (the loader) shares with
 * common/config_team.c (the [team.NAME] sections). Not for any other
 * file. */
#ifndef AP_COMMON_CONFIG_INT_H
#define AP_COMMON_CONFIG_INT_H

#include <stddef.h>

#include "common/config.h"
#include "common/err.h"

/* value as a whole decimal number in [min, max] into *out: AP_EPARSE when
 * it is not one, AP_EINVAL when out of range. */
AP_MUST_CHECK ap_err config_parse_number(const char *value,
                                         unsigned long long min,
                                         unsigned long long max,
                                         unsigned long long *out);

/* One key = value of section [team.tname] into cfg: 1 when taken, 0 with
 * msg (msglen) saying why. */
int config_team_kv(struct config *cfg, char *msg, size_t msglen,
                   const char *tname, const char *key, const char *value);

/* The [team.NAME] sections as a whole: lists that parse, known profiles,
 * an https webhook, networks that no two teams share. On error msg says
 * why and *tsec (a team's name) and *key where. */
AP_MUST_CHECK ap_err config_check_teams(const struct config *cfg, char *msg,
                                        size_t msglen, const char **tsec,
                                        const char **key);

#endif /* AP_COMMON_CONFIG_INT_H */
