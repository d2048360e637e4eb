# Docker helpers for scripts/setup, scripts/up, scripts/test and scripts/bench (through
# scripts/lib/setup.sh), scripts/compose and the integration tests (tests/support/asterisk.py).
# Sourced, not run. Everything here is idempotent: a second run reuses what exists.

RINGBRIDGE_CACHE=${RINGBRIDGE_CACHE:-/var/cache/ringbridge}
ASTERISK_BASE_IMAGE=${ASTERISK_BASE_IMAGE:-}
PUBLIC_BASE_IMAGE=debian:sid-slim
LOCAL_BASE_IMAGE=ringbridge/debian-sid-asterisk:base
BRIDGE_BASE_IMAGE=${BRIDGE_BASE_IMAGE:-}
BRIDGE_PUBLIC_BASE_IMAGE=python:3.11-slim
BRIDGE_LOCAL_BASE_IMAGE=ringbridge/debian-bookworm-python:base
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

# A root made here trusts the CA certificates this host added to its own store
# (/usr/local/share/ca-certificates): behind a TLS-inspecting proxy, pip in an image
# build reaches PyPI only so (Debian's pip uses the system store).
trust_host_cas() {
    local root=$1 host_cas=/usr/local/share/ca-certificates
    compgen -G "$host_cas/*.crt" >/dev/null || return 0
    as_root cp "$host_cas"/*.crt "$root$host_cas/"
    as_root chroot "$root" update-ca-certificates >/dev/null 2>&1 \
        || die "update-ca-certificates failed in $root"
}

# Without a registry there is no public base to pull: make one from a minimal
# debootstrap root of SUITE with PACKAGES (comma-separated) in it, kept in
# $RINGBRIDGE_CACHE/ROOT_NAME, and `docker import` it as IMAGE.
make_debootstrap_image() {
    local image=$1 suite=$2 root=$RINGBRIDGE_CACHE/$3 packages=$4
    local logfile=$RINGBRIDGE_CACHE/debootstrap-$3.log
    ensure_debs debootstrap
    as_root mkdir -p "$RINGBRIDGE_CACHE"
    # The stamp is written once debootstrap has finished: a root it left half made
    # (interrupted, or failed) is made again.
    if [ ! -f "$root.complete" ]; then
        log "debootstrapping a minimal Debian $suite root with $packages (about a minute)"
        as_root rm -rf "$root"
        as_root debootstrap --variant=minbase "--include=$packages" \
            "$suite" "$root" "$DEBIAN_MIRROR" >"$logfile" 2>&1 \
            || die "debootstrap failed; see $logfile"
        as_root touch "$root.complete"
    fi
    trust_host_cas "$root"
    log "importing $root as $image"
    as_root tar -C "$root" -c . | docker import - "$image" >/dev/null
    echo "$image"
}

# A build's base; the first that applies wins:
#   1. EXPLICIT (the *_BASE_IMAGE variable), when set;
#   2. PUBLIC, when it is already local;
#   3. LOCAL (the debootstrap base), when it exists: a machine that once found no
#      registry keeps it, and later runs try no pull (they stay fast);
#   4. PUBLIC pulled, giving up after BASE_PULL_TIMEOUT seconds (20);
#   5. a new LOCAL from make_debootstrap_image (about a minute), when the pull failed.
# Arguments: EXPLICIT PUBLIC LOCAL, then those of make_debootstrap_image after IMAGE.
choose_base_image() {
    local explicit=$1 public=$2 local_image=$3
    shift 3
    if [ -n "$explicit" ]; then echo "$explicit"; return 0; fi
    if image_exists "$public"; then echo "$public"; return 0; fi
    if image_exists "$local_image"; then echo "$local_image"; return 0; fi
    log "pulling $public (giving up after ${BASE_PULL_TIMEOUT} s)"
    if timeout "$BASE_PULL_TIMEOUT" docker pull -q "$public" >/dev/null 2>&1; then
        echo "$public"; return 0
    fi
    log "could not pull $public: making a local base instead"
    make_debootstrap_image "$local_image" "$@"
}

# The Asterisk image's base: a sid root that already carries Asterisk, so the image
# build installs nothing.
asterisk_base_image() {
    choose_base_image "$ASTERISK_BASE_IMAGE" "$PUBLIC_BASE_IMAGE" "$LOCAL_BASE_IMAGE" \
        sid sid-root asterisk,asterisk-modules,asterisk-moh-opsound-gsm,ca-certificates
}

# ringbridge's image base (docker/bridge/Dockerfile): Debian 12's Python 3.11 with venv.
bridge_base_image() {
    choose_base_image "$BRIDGE_BASE_IMAGE" "$BRIDGE_PUBLIC_BASE_IMAGE" "$BRIDGE_LOCAL_BASE_IMAGE" \
        bookworm bookworm-python-root python3,python3-venv,ca-certificates
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
