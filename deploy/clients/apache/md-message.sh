#!/bin/sh
# MDMessageCmd for mod_md: `md-message.sh [FLAG_DIR] REASON DOMAIN`, run by
# the Apache child (user www-data). On "renewed" it appends a line to
# FLAG_DIR/renewed (default /run/apache2-md), which apache2-md-reload.path
# turns into `systemctl reload apache2`: the graceful restart that makes
# Apache serve the renewed certificate, and that a www-data process cannot
# do itself. Every message also goes to syslog.
flag_dir=/run/apache2-md
if [ "$#" -ge 3 ]; then
    flag_dir=$1
    shift
fi
reason=$1
domain=$2

logger -t mod_md "$domain: $reason" 2>/dev/null || true
if [ "$reason" = renewed ]; then
    printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$domain" >> "$flag_dir/renewed" || exit 1
fi
exit 0
