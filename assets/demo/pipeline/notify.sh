#!/bin/sh
# Notification command: append one line per notification to
# <workspace>/notifications.log. The notification is JSON in
# $FERRY_NOTIFICATION (and on stdin); a POSIX shell has no JSON parser, so the
# few flat string fields needed are picked out with sed.
ws=$(cd "$(dirname "$0")/.." && pwd)
json=${FERRY_NOTIFICATION:-}
if [ -z "$json" ]; then json=$(cat); fi

field() {
    printf '%s' "$json" | tr '\n' ' ' | sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"
}

kind=$(field kind)
service=$(field service)
stage=$(field stage)
message=$(field message)
printf '%s  %-20s %s%s  %s\n' "$(date -u +%H:%M:%S)" "${kind:-notification}" "${service:-?}" "${stage:+/$stage}" "$message" >>"$ws/notifications.log"
