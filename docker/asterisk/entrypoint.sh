#!/bin/sh
# Renders /usr/share/ringbridge/asterisk-conf into /etc/asterisk from environment
# variables (secrets are never in the image), then runs Asterisk in the foreground.
set -eu

: "${ARI_USER:=ringbridge}" "${AMI_USER:=ringbridge}" "${BRIDGE_APP:=ringbridge}"
: "${ARI_PORT:=8088}" "${AMI_PORT:=5038}" "${SIP_PORT:=5060}" "${SIP_BIND:=0.0.0.0}"
: "${RTP_START:=10000}" "${RTP_END:=20000}"
# ARI and AMI listen on loopback; a cluster node on its own private address. SIP_PERMIT:
# the addresses SIP may come from (a cluster node: its SIP edge's only).
: "${ARI_BIND:=127.0.0.1}" "${AMI_BIND:=127.0.0.1}" "${SIP_PERMIT:=0.0.0.0/0.0.0.0}"
# The carrier trunk (docs/carriers.md): the addresses its calls come from (PJSIP
# identify `match`: addresses or networks, comma separated) and where calls to it go.
: "${CARRIER_ADDRESSES:=127.0.0.2}" "${CARRIER_CONTACT:=sip:127.0.0.2:5080}"
# Asterisk's own metrics (res_prometheus, prometheus.conf) need a password; none, off.
: "${PROMETHEUS_PASSWORD:=}"
if [ -n "$PROMETHEUS_PASSWORD" ]; then prometheus_enabled=yes; else prometheus_enabled=no; fi
# Seconds a caller is held, ringing, while no ringbridge has the Stasis app registered.
: "${STASIS_WAIT:=20}"
case $STASIS_WAIT in
    ''|*[!0-9]*) echo "ringbridge-asterisk: STASIS_WAIT must be whole seconds" >&2; exit 64 ;;
esac
for required in ARI_PASSWORD AMI_SECRET SIP_SECRETS; do
    eval "value=\${$required:-}"
    if [ -z "$value" ]; then
        echo "ringbridge-asterisk: $required is not set (scripts/setup generates it)" >&2
        exit 64
    fi
done

escape() { printf '%s' "$1" | sed -e 's/[\/&|]/\\&/g'; }

src=/usr/share/ringbridge/asterisk-conf
rm -f /etc/asterisk/*.conf
for file in "$src"/*.conf; do
    sed -e "s|{{ARI_USER}}|$(escape "$ARI_USER")|g" \
        -e "s|{{ARI_PASSWORD}}|$(escape "$ARI_PASSWORD")|g" \
        -e "s|{{AMI_USER}}|$(escape "$AMI_USER")|g" \
        -e "s|{{AMI_SECRET}}|$(escape "$AMI_SECRET")|g" \
        -e "s|{{ARI_PORT}}|$ARI_PORT|g" -e "s|{{AMI_PORT}}|$AMI_PORT|g" \
        -e "s|{{SIP_PORT}}|$SIP_PORT|g" -e "s|{{SIP_BIND}}|$SIP_BIND|g" \
        -e "s|{{ARI_BIND}}|$ARI_BIND|g" -e "s|{{AMI_BIND}}|$AMI_BIND|g" \
        -e "s|{{SIP_PERMIT}}|$(escape "$SIP_PERMIT")|g" \
        -e "s|{{RTP_START}}|$RTP_START|g" -e "s|{{RTP_END}}|$RTP_END|g" \
        -e "s|{{BRIDGE_APP}}|$(escape "$BRIDGE_APP")|g" \
        -e "s|{{CARRIER_ADDRESSES}}|$(escape "$CARRIER_ADDRESSES")|g" \
        -e "s|{{CARRIER_CONTACT}}|$(escape "$CARRIER_CONTACT")|g" \
        -e "s|{{STASIS_WAIT}}|$STASIS_WAIT|g" \
        -e "s|{{PROMETHEUS_ENABLED}}|$prometheus_enabled|g" \
        -e "s|{{PROMETHEUS_PASSWORD}}|$(escape "$PROMETHEUS_PASSWORD")|g" \
        "$file" > "/etc/asterisk/$(basename "$file")"
done

# SIP_SECRETS: "name=password name=password ..." for the demo extensions (and any
# trunk that registers, docs/carriers.md).
secrets=/etc/asterisk/pjsip_secrets.conf
: > "$secrets"
for pair in $SIP_SECRETS; do
    name=${pair%%=*}
    printf '[%s]\ntype = auth\nauth_type = digest\nusername = %s\npassword = %s\n\n' \
        "$name" "$name" "${pair#*=}" >> "$secrets"
done

chown -R asterisk:asterisk /etc/asterisk
chmod 0640 /etc/asterisk/*.conf
for dir in /var/lib/asterisk /var/run/asterisk /var/log/asterisk /var/spool/asterisk \
        /var/spool/asterisk/recording; do
    mkdir -p "$dir" && chown -R asterisk:asterisk "$dir"
done

exec /usr/sbin/asterisk -f -n -U asterisk -G asterisk
