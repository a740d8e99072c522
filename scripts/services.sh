#!/usr/bin/env bash
# Start the real outside services that mlopsctl's integration tests need.
#
#   scripts/services.sh            install what is missing, start the Docker engine,
#                                  build the local base image (idempotent)
#   scripts/services.sh --check    report only; exit 0 if everything is ready, 1 if not
#
# What it provides:
#   * Debian packages docker.io, prometheus (prometheus + promtool), debootstrap,
#     docker-registry (the shared-store tests start their own registry on 127.0.0.1), and
#     postgresql-15 (the shared run store tests start their own server on 127.0.0.1 as the
#     postgres user, with password logins; the packaged cluster is never started)
#   * a Docker engine on the default socket /var/run/docker.sock
#     (dockerd --iptables=false --bridge=none: containers use --network host or none)
#   * the image mlopsctl/python:3.11-bookworm, built locally with debootstrap from the
#     Debian mirror configured in /etc/apt/sources.list(.d) (no image registry needed)
#
# Tests start their own Prometheus servers (tests/support/services.py); a Prometheus
# started by the Debian package is stopped so it never gets in the way.
#
# Environment:
#   MLOPSCTL_DEBIAN_MIRROR   mirror URL for debootstrap (default: taken from apt sources)
#   MLOPSCTL_DOCKERD_WAIT    seconds to wait for the engine to answer (default 60)
#   MLOPSCTL_PG_BIN          PostgreSQL's binaries (default /usr/lib/postgresql/15/bin)
#
# Files (git-ignored): .services/dockerd.log, .services/apt.log, .services/debootstrap.log
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="$REPO_ROOT/.services"
BASE_IMAGE="mlopsctl/python:3.11-bookworm"
SUITE="bookworm"
DOCKERD_WAIT="${MLOPSCTL_DOCKERD_WAIT:-60}"
KEYRING="/usr/share/keyrings/debian-archive-keyring.gpg"
PG_BIN="${MLOPSCTL_PG_BIN:-/usr/lib/postgresql/15/bin}"

CHECK_ONLY=0
POLICY_RC_CREATED=0
BUILD_DIR=""

log() { printf 'services: %s\n' "$*"; }
warn() { printf 'services: warning: %s\n' "$*" >&2; }
die() {
    printf 'services: error: %s\n' "$*" >&2
    exit 1
}

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

while (($#)); do
    case "$1" in
        --check) CHECK_ONLY=1 ;;
        -h | --help)
            usage
            exit 0
            ;;
        *) die "unknown argument: $1 (try --help)" ;;
    esac
    shift
done

is_root() { [[ $(id -u) -eq 0 ]]; }

# ---------------------------------------------------------------- cleanup
unmount_under() {
    # Unmount anything still mounted below $1 (deepest first), e.g. after an
    # interrupted debootstrap, so that removing the directory never reaches the host.
    local dir="$1" mnt
    [[ -d $dir ]] || return 0
    dir="$(cd "$dir" && pwd -P)"
    while read -r mnt; do
        umount -l "$mnt" 2>/dev/null || true
    done < <(awk -v d="$dir/" 'index($5 "/", d) == 1 && $5 != d { print $5 }' /proc/self/mountinfo | sort -r)
}

cleanup() {
    local rc=$?
    if ((POLICY_RC_CREATED)); then
        rm -f /usr/sbin/policy-rc.d
    fi
    if [[ -n $BUILD_DIR && -d $BUILD_DIR ]]; then
        unmount_under "$BUILD_DIR"
        rm -rf --one-file-system "$BUILD_DIR"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- probes
# Prints the Debian packages that provide missing tools, one per line.
missing_packages() {
    if ! command -v docker >/dev/null 2>&1 || ! command -v dockerd >/dev/null 2>&1; then
        echo docker.io
    fi
    if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
        echo prometheus
    fi
    if ! command -v debootstrap >/dev/null 2>&1; then
        echo debootstrap
    fi
    if ! command -v tmux >/dev/null 2>&1; then
        echo tmux # the dashboard's real-terminal smoke test
    fi
    if ! command -v docker-registry >/dev/null 2>&1; then
        echo docker-registry # shared artifact and image store (tests start their own on 127.0.0.1)
    fi
    if ! postgres_installed; then
        echo postgresql-15 # shared run store (tests start their own server on 127.0.0.1)
    fi
    if [[ ! -s $KEYRING ]]; then
        echo debian-archive-keyring
    fi
}

postgres_installed() {
    [[ -x $PG_BIN/initdb && -x $PG_BIN/pg_ctl && -x $PG_BIN/postgres ]]
}

postgres_version() {
    "$PG_BIN/postgres" --version 2>/dev/null | awk '{ print $3; exit }'
}

# The server must run as a user other than root: the tests use runuser -u postgres.
postgres_usable() {
    postgres_installed || return 1
    if is_root; then
        getent passwd postgres >/dev/null 2>&1 && runuser -u postgres -- "$PG_BIN/initdb" --version >/dev/null 2>&1
    else
        "$PG_BIN/initdb" --version >/dev/null 2>&1
    fi
}

docker_ready() { timeout 15 docker info >/dev/null 2>&1; }

image_ready() { docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; }

image_size_mb() {
    local bytes
    bytes="$(docker image inspect --format '{{.Size}}' "$BASE_IMAGE" 2>/dev/null || echo 0)"
    echo $((bytes / 1000000))
}

engine_desc() {
    docker info --format '{{.ServerVersion}} ({{.Driver}})' 2>/dev/null || echo "?"
}

prometheus_version() {
    prometheus --version 2>&1 | awk 'NR == 1 { print $3; exit }'
}

# ---------------------------------------------------------------- --check
if ((CHECK_ONLY)); then
    ok=1
    mapfile -t missing < <(missing_packages)
    if ((${#missing[@]})); then
        log "packages: MISSING ${missing[*]}"
        ok=0
    else
        log "packages: ok (docker, dockerd, prometheus $(prometheus_version), promtool, debootstrap, docker-registry, postgresql $(postgres_version))"
    fi
    if postgres_installed; then
        if postgres_usable; then
            log "postgresql: ok, $(postgres_version) in $PG_BIN (tests start their own server on 127.0.0.1)"
        else
            log "postgresql: NOT USABLE: $PG_BIN/initdb does not run$(is_root && echo ' as the postgres user')"
            ok=0
        fi
    fi
    if ! command -v docker >/dev/null 2>&1; then
        log "docker engine: NO docker client (base image not checked)"
        ok=0
    elif docker_ready; then
        log "docker engine: ok, $(engine_desc) on /var/run/docker.sock"
        if image_ready; then
            log "base image: ok, $BASE_IMAGE ($(image_size_mb) MB)"
        else
            log "base image: MISSING $BASE_IMAGE"
            ok=0
        fi
    else
        if [[ -S /var/run/docker.sock && ! -w /var/run/docker.sock ]]; then
            log "docker engine: NO ACCESS to /var/run/docker.sock as $(id -un) (base image not checked)"
        else
            log "docker engine: NOT RUNNING (base image not checked)"
        fi
        ok=0
    fi
    if ((ok)); then
        log "all services ready"
        exit 0
    fi
    log "not ready: run scripts/services.sh (as root) to set up"
    exit 1
fi

# One run at a time: a second run waits, then finds everything ready. (fd 9 is closed
# for dockerd below, or the engine would hold the lock for as long as it runs.)
if mkdir -p "$STATE_DIR" 2>/dev/null && { exec 9>>"$STATE_DIR/services.lock"; } 2>/dev/null; then
    if command -v flock >/dev/null 2>&1; then
        flock -w 1800 9 || die "another scripts/services.sh run holds $STATE_DIR/services.lock"
    fi
elif is_root; then
    die "cannot write $STATE_DIR"
fi

# ---------------------------------------------------------------- 1+2. packages
mapfile -t missing < <(missing_packages)
if ((${#missing[@]})); then
    if ! is_root; then
        die "missing tools (Debian packages: ${missing[*]}); run this script as root, or install them with: sudo apt-get install -y ${missing[*]}"
    fi
    # Keep maintainer scripts from starting services (the packaged prometheus on :9090,
    # a packaged dockerd): we start exactly what the tests need ourselves.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        POLICY_RC_CREATED=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    log "installing ${missing[*]} (apt log: .services/apt.log)"
    start=$SECONDS
    {
        apt-get update -q &&
            apt-get install -y -q --no-install-recommends \
                -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
                "${missing[@]}" ca-certificates
    } >>"$STATE_DIR/apt.log" 2>&1 || {
        tail -n 20 "$STATE_DIR/apt.log" >&2
        die "apt-get failed (see .services/apt.log)"
    }
    if ((POLICY_RC_CREATED)); then
        rm -f /usr/sbin/policy-rc.d
        POLICY_RC_CREATED=0
    fi
    mapfile -t still < <(missing_packages)
    ((${#still[@]} == 0)) || die "still missing after apt-get install: ${still[*]}"
    log "installed in $((SECONDS - start)) s"
else
    log "packages: docker.io, prometheus, debootstrap, docker-registry, postgresql-15 already installed"
fi
postgres_usable || die "PostgreSQL in $PG_BIN does not run$(is_root && echo ' as the postgres user') (initdb --version failed)"

# A Prometheus started by the Debian package runs as user "prometheus" on :9090.
# Tests use their own servers on random ports; stop the packaged one anyway.
if is_root && command -v pgrep >/dev/null 2>&1 && getent passwd prometheus >/dev/null 2>&1; then
    mapfile -t prom_pids < <(pgrep -u prometheus -x prometheus || true)
    if ((${#prom_pids[@]})); then
        log "stopping the packaged prometheus service (pids ${prom_pids[*]})"
        if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
            systemctl stop prometheus.service >/dev/null 2>&1 || true
        elif [[ -x /etc/init.d/prometheus ]]; then
            /etc/init.d/prometheus stop >/dev/null 2>&1 || true
        fi
        for pid in "${prom_pids[@]}"; do
            kill "$pid" 2>/dev/null || true
        done
    fi
fi

# ---------------------------------------------------------------- 3. docker engine
# wait_docker SECONDS [PID]: 0 once `docker info` answers, 1 on timeout or if PID exits.
wait_docker() {
    local deadline=$((SECONDS + $1)) pid="${2:-}"
    while ((SECONDS < deadline)); do
        docker_ready && return 0
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        sleep 1
    done
    docker_ready
}

start_dockerd() {
    local log_file="$STATE_DIR/dockerd.log" pidfile=/var/run/docker.pid driver pid
    if [[ -s $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        log "dockerd (pid $(cat "$pidfile")) is running but not answering yet; waiting up to ${DOCKERD_WAIT} s"
        wait_docker "$DOCKERD_WAIT" && return 0
        die "dockerd (pid $(cat "$pidfile")) does not answer on /var/run/docker.sock"
    fi
    rm -f "$pidfile"
    for driver in overlay2 vfs; do
        log "starting dockerd --storage-driver=$driver (log: .services/dockerd.log)"
        printf '=== %s scripts/services.sh: dockerd --storage-driver=%s\n' \
            "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$driver" >>"$log_file"
        # setsid: the engine outlives this script and the shell that ran it.
        setsid dockerd --storage-driver="$driver" --iptables=false --bridge=none \
            </dev/null >>"$log_file" 2>&1 9>&- &
        pid=$!
        if wait_docker "$DOCKERD_WAIT" "$pid"; then
            log "docker engine up: $(engine_desc), pid $pid"
            return 0
        fi
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            tail -n 15 "$log_file" >&2
            die "dockerd did not answer within ${DOCKERD_WAIT} s (see .services/dockerd.log)"
        fi
        warn "dockerd exited with --storage-driver=$driver:"
        grep -E 'level=(error|fatal)|failed to start' "$log_file" | tail -n 3 >&2 || true
    done
    tail -n 15 "$log_file" >&2
    die "could not start dockerd (see .services/dockerd.log)"
}

if docker_ready; then
    log "docker engine: already running, $(engine_desc)"
else
    if ! is_root; then
        if [[ -S /var/run/docker.sock && ! -w /var/run/docker.sock ]]; then
            die "cannot use /var/run/docker.sock as $(id -un) (add the user to the docker group, or run: sudo $0)"
        fi
        die "the Docker engine is not running and only root can start it (run: sudo $0)"
    fi
    start_dockerd
fi

# ---------------------------------------------------------------- 4. base image
# Candidate mirrors for $SUITE from apt's sources (one-line and deb822 formats).
apt_mirrors() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f $f ]] || continue
        awk -v suite="$SUITE" '
            /^[ \t]*deb[ \t]/ {
                sub(/\[[^]]*\]/, "")          # drop [arch=... signed-by=...]
                if ($3 == suite) print $2
            }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f $f ]] || continue
        awk -v suite="$SUITE" '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && enabled != "no") {
                    n = split(uris, u, " ")
                    for (i = 1; i <= n; i++) print u[i]
                }
                types = ""; uris = ""; suites = ""; enabled = ""; key = ""
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            /^[A-Za-z-]+:/ {
                key = tolower(substr($0, 1, index($0, ":") - 1))
                val = substr($0, index($0, ":") + 1)
            }
            /^[ \t]/ { val = $0 }
            {
                gsub(/^[ \t]+|[ \t]+$/, "", val)
                if (key == "types") types = types " " val
                else if (key == "uris") uris = uris " " val
                else if (key == "suites") suites = suites " " val
                else if (key == "enabled") enabled = tolower(val)
            }
            END { flush() }' "$f"
    done
}

url_reachable() {
    if command -v wget >/dev/null 2>&1; then
        wget -q -T 10 -t 1 --spider "$1" >/dev/null 2>&1
    elif command -v curl >/dev/null 2>&1; then
        curl -fsS -m 10 -o /dev/null -I "$1" >/dev/null 2>&1
    else
        return 0 # cannot tell; let debootstrap try
    fi
}

pick_mirror() {
    local m
    if [[ -n ${MLOPSCTL_DEBIAN_MIRROR:-} ]]; then
        echo "${MLOPSCTL_DEBIAN_MIRROR%/}"
        return 0
    fi
    while read -r m; do
        [[ $m =~ ^https?:// ]] || continue
        m="${m%/}"
        if url_reachable "$m/dists/$SUITE/Release"; then
            echo "$m"
            return 0
        fi
        warn "mirror $m does not serve dists/$SUITE/Release; trying the next one"
    done < <(apt_mirrors | awk '!seen[$0]++')
    return 1
}

build_image() {
    local mirror start rootfs debootstrap_log="$STATE_DIR/debootstrap.log" tar_excl
    mirror="$(pick_mirror)" ||
        die "no reachable Debian mirror for '$SUITE' in /etc/apt/sources.list(.d); set MLOPSCTL_DEBIAN_MIRROR"
    start=$SECONDS
    BUILD_DIR="$(mktemp -d "$STATE_DIR/build.XXXXXX")"
    rootfs="$BUILD_DIR/rootfs"
    mkdir -p "$rootfs"
    log "building $BASE_IMAGE: debootstrap $SUITE from $mirror (log: .services/debootstrap.log)"
    printf '=== %s debootstrap %s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$SUITE" "$mirror" >>"$debootstrap_log"
    local keyring_opt=()
    [[ -s $KEYRING ]] && keyring_opt=(--keyring="$KEYRING")
    debootstrap --variant=minbase --include=python3,python3-venv "${keyring_opt[@]}" \
        "$SUITE" "$rootfs" "$mirror" >>"$debootstrap_log" 2>&1 || {
        tail -n 15 "$debootstrap_log" >&2
        die "debootstrap failed (see .services/debootstrap.log)"
    }
    unmount_under "$rootfs"
    log "debootstrap done in $((SECONDS - start)) s; trimming the root filesystem"

    # Keep the image small: no package caches or lists, no docs (copyright files stay),
    # man pages, info pages, translations or logs; and keep later apt installs lean too.
    (
        cd "$rootfs"
        rm -rf --one-file-system var/cache/apt/archives/*.deb var/cache/apt/*.bin \
            var/lib/apt/lists/* var/cache/debconf/*-old var/lib/dpkg/*-old \
            usr/share/man/* usr/share/info/* usr/share/lintian usr/share/linda \
            usr/share/locale/* tmp/* var/tmp/*
        mkdir -p var/lib/apt/lists/partial
        find usr/share/doc -xdev -mindepth 1 ! -type d ! -name copyright -delete
        find usr/share/doc -xdev -mindepth 1 -type d -empty -delete
        find var/log -xdev -type f -exec truncate -s 0 {} +
        : >etc/hostname
        : >etc/machine-id
        mkdir -p etc/dpkg/dpkg.cfg.d
        cat >etc/dpkg/dpkg.cfg.d/01-mlopsctl-slim <<'EOF'
# mlopsctl base image: keep packages installed later small too
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
EOF
        cat >etc/apt/apt.conf.d/01-mlopsctl-slim <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
EOF
    )

    log "importing into docker as $BASE_IMAGE"
    tar_excl=(--exclude=./dev/* --exclude=./proc/* --exclude=./sys/*)
    tar --numeric-owner --xattrs -C "$rootfs" "${tar_excl[@]}" -c . |
        docker import \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'ENV LANG=C.UTF-8' \
            --change 'ENV PYTHONUNBUFFERED=1' \
            --change 'WORKDIR /' \
            --change 'CMD ["python3"]' \
            --change "LABEL org.opencontainers.image.title=\"$BASE_IMAGE\"" \
            --change 'LABEL org.opencontainers.image.description="Debian bookworm minbase with python3 (3.11) and python3-venv, built by scripts/services.sh"' \
            --message "debootstrap --variant=minbase $SUITE + python3, python3-venv" \
            - "$BASE_IMAGE" >/dev/null

    unmount_under "$BUILD_DIR"
    rm -rf --one-file-system "$BUILD_DIR"
    BUILD_DIR=""

    local got
    got="$(docker run --rm --network none "$BASE_IMAGE" \
        python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')" ||
        die "the new image $BASE_IMAGE does not run python3"
    [[ $got == 3.11 ]] || die "the new image has python $got, expected 3.11"
    log "built $BASE_IMAGE in $((SECONDS - start)) s: $(image_size_mb) MB, python $got"
}

if image_ready; then
    log "base image: $BASE_IMAGE present ($(image_size_mb) MB)"
else
    is_root || die "building $BASE_IMAGE needs root (debootstrap); run: sudo $0"
    build_image
fi

# ---------------------------------------------------------------- 5. summary
log "ready: docker $(engine_desc) on /var/run/docker.sock; image $BASE_IMAGE ($(image_size_mb) MB); prometheus $(prometheus_version) + promtool; postgresql $(postgres_version)"
