# Docker helpers for scripts/setup, scripts/up, scripts/test and scripts/bench (through
# scripts/lib/setup.sh) and for the integration tests (tests/support/asterisk.py).
# Sourced, not run. Everything here is idempotent: a second run reuses what exists.

RINGBRIDGE_CACHE=${RINGBRIDGE_CACHE:-/var/cache/ringbridge}
ASTERISK_BASE_IMAGE=${ASTERISK_BASE_IMAGE:-}
PUBLIC_BASE_IMAGE=debian:sid-slim
LOCAL_BASE_IMAGE=ringbridge/debian-sid-asterisk:base
BASE_PULL_TIMEOUT=${BASE_PULL_TIMEOUT:-20}
ASTERISK_IMAGE=${ASTERISK_IMAGE:-ringbridge/asterisk:22}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Install Debian packages that are missing (names given as arguments).
ensure_debs() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Make sure a Docker engine answers. When none runs, install Debian's docker.io and
# start dockerd: no iptables, no bridge network (containers use the host network),
# listening on its unix socket only.
ensure_docker_engine() {
    if docker info >/dev/null 2>&1; then return 0; fi
    ensure_debs docker.io
    if ! docker info >/dev/null 2>&1; then
        log "starting dockerd (unix socket only, host networking)"
        as_root mkdir -p "$RINGBRIDGE_CACHE"
        as_root sh -c "nohup dockerd --iptables=false --bridge=none \
            >'$RINGBRIDGE_CACHE/dockerd.log' 2>&1 &"
        for _ in $(seq 1 60); do
            docker info >/dev/null 2>&1 && return 0
            sleep 0.5
        done
        die "dockerd did not start; see $RINGBRIDGE_CACHE/dockerd.log"
    fi
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# Without a registry there is no debian:sid image to pull: build one from a minimal
# debootstrap root that already carries Asterisk, so the image build installs nothing.
make_local_base_image() {
    local root="$RINGBRIDGE_CACHE/sid-root"
    ensure_debs debootstrap
    as_root mkdir -p "$RINGBRIDGE_CACHE"
    # The stamp is written once debootstrap has finished: a root it left half made
    # (interrupted, or failed) is made again.
    if [ ! -f "$root.complete" ]; then
        log "debootstrapping a minimal Debian sid root with Asterisk (about a minute)"
        as_root rm -rf "$root"
        as_root debootstrap --variant=minbase --include=asterisk,asterisk-modules,asterisk-moh-opsound-gsm,ca-certificates \
            sid "$root" "$DEBIAN_MIRROR" >"$RINGBRIDGE_CACHE/debootstrap.log" 2>&1 \
            || die "debootstrap failed; see $RINGBRIDGE_CACHE/debootstrap.log"
        as_root touch "$root.complete"
    fi
    log "importing $root as $LOCAL_BASE_IMAGE"
    as_root tar -C "$root" -c . | docker import - "$LOCAL_BASE_IMAGE" >/dev/null
    echo "$LOCAL_BASE_IMAGE"
}

# The Asterisk image's base; the first that applies wins:
#   1. ASTERISK_BASE_IMAGE, when set;
#   2. debian:sid-slim, when it is already local;
#   3. the local debootstrap base, when it exists: a machine that once found no
#      registry keeps it, and later runs try no pull (they stay fast);
#   4. debian:sid-slim pulled, giving up after BASE_PULL_TIMEOUT seconds (20);
#   5. a new local debootstrap base (about a minute), when the pull failed.
asterisk_base_image() {
    if [ -n "$ASTERISK_BASE_IMAGE" ]; then echo "$ASTERISK_BASE_IMAGE"; return 0; fi
    if image_exists "$PUBLIC_BASE_IMAGE"; then echo "$PUBLIC_BASE_IMAGE"; return 0; fi
    if image_exists "$LOCAL_BASE_IMAGE"; then echo "$LOCAL_BASE_IMAGE"; return 0; fi
    log "pulling $PUBLIC_BASE_IMAGE (giving up after ${BASE_PULL_TIMEOUT} s)"
    if timeout "$BASE_PULL_TIMEOUT" docker pull -q "$PUBLIC_BASE_IMAGE" >/dev/null 2>&1; then
        echo "$PUBLIC_BASE_IMAGE"; return 0
    fi
    log "could not pull $PUBLIC_BASE_IMAGE: making a local base instead"
    make_local_base_image
}

# Build ringbridge/asterisk:22; docker's layer cache makes a second run take seconds.
build_asterisk_image() {
    local top=$1 base
    base=$(asterisk_base_image)
    log "building $ASTERISK_IMAGE from $base"
    as_root mkdir -p "$RINGBRIDGE_CACHE"
    if ! docker build --network host --build-arg "BASE=$base" -t "$ASTERISK_IMAGE" \
            -f "$top/docker/asterisk/Dockerfile" "$top" >"$RINGBRIDGE_CACHE/build.log" 2>&1; then
        tail -n 30 "$RINGBRIDGE_CACHE/build.log" >&2
        die "building $ASTERISK_IMAGE failed; full log in $RINGBRIDGE_CACHE/build.log"
    fi
}
