#!/usr/bin/env bash
# Sets up WebGPU without a GPU for the webgpu backend's tests (Debian 12; see docs/webgpu-backend.md):
#   - apt: libvulkan1 (Vulkan loader), chromium (headless browser tests; its SwiftShader Vulkan ICD),
#     mesa-vulkan-drivers (pulls in libLLVM-15 and the X/wayland libraries lavapipe links against;
#     Debian 12's own lavapipe (Mesa 22) is rejected by Dawn, so it is not used itself)
#   - Mesa 25 lavapipe from bookworm-backports, downloaded with apt-get download and unpacked with
#     dpkg -x into a cache folder (the system's apt sources are not changed). ~4x faster than
#     SwiftShader and has shader-f16. If it cannot be fetched or does not load, SwiftShader is used.
#
# Idempotent: installed packages and a complete cache are reused. Logs go to stderr; stdout is the
# environment to use, as shell `export` lines:
#
#   eval "$(tools/setup-webgpu.sh)"          # install if needed, then export the variables
#   tools/setup-webgpu.sh --swiftshader      # skip lavapipe, use chromium's SwiftShader
#   tools/setup-webgpu.sh --no-install       # install nothing, only print the environment (if usable)
#
# Environment: WEBGPU_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/webdnn-build/webgpu).
# The same lines are written to $WEBGPU_CACHE/env.sh.
set -euo pipefail

MODE=auto      # auto: lavapipe if it works, else swiftshader
INSTALL=1
for arg in "$@"; do
  case "$arg" in
    --swiftshader) MODE=swiftshader ;;
    --lavapipe) MODE=lavapipe ;;       # fail instead of falling back to SwiftShader
    --no-install) INSTALL=0 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "setup-webgpu.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done

log() { echo "setup-webgpu: $*" >&2; }
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${WEBGPU_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/webdnn-build/webgpu}"
ARCH_TRIPLET="$(uname -m)-linux-gnu"
SWIFTSHADER_ICD=/usr/lib/chromium/vk_swiftshader_icd.json
mkdir -p "$CACHE"

SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else SUDO="__none__"; fi
fi

apt_install() {  # installs the packages of "$@" that are missing
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$INSTALL" = 0 ]; then log "missing packages (not installed, --no-install): ${missing[*]}"; return 1; fi
  if [ "$SUDO" = "__none__" ]; then log "need root (or sudo) to install: ${missing[*]}"; return 1; fi
  log "apt-get install ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || true
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
}

command -v apt-get >/dev/null || { log "apt-get not found (this script targets Debian 12)"; exit 1; }
apt_install libvulkan1 chromium || log "continuing without some packages"

# --- Mesa lavapipe from bookworm-backports, unpacked into $CACHE/lavapipe ----------------------
LVP_DIR="$CACHE/lavapipe"
LVP_LIB="$LVP_DIR/root/usr/lib/$ARCH_TRIPLET"
LVP_ICD="$LVP_DIR/lvp_icd.json"

fetch_lavapipe() {
  [ -f "$LVP_DIR/.complete" ] && [ -f "$LVP_LIB/libvulkan_lvp.so" ] && return 0
  [ "$INSTALL" = 0 ] && { log "lavapipe is not in the cache (--no-install)"; return 1; }
  apt_install mesa-vulkan-drivers || return 1   # its dependencies (libLLVM-15, xcb, wayland, ...)
  rm -rf "$LVP_DIR"; mkdir -p "$LVP_DIR/lists/partial" "$LVP_DIR/debs" "$LVP_DIR/root" "$LVP_DIR/archives/partial"
  echo "deb http://deb.debian.org/debian bookworm-backports main" > "$LVP_DIR/sources.list"
  local apt_opts=(-o "Dir::Etc::SourceList=$LVP_DIR/sources.list" -o Dir::Etc::SourceParts=/dev/null
                  -o "Dir::State::Lists=$LVP_DIR/lists" -o "Dir::Cache::Archives=$LVP_DIR/archives"
                  -o APT::Sandbox::User=root -o Debug::NoLocking=1)
  log "fetching Mesa lavapipe from bookworm-backports into $LVP_DIR"
  apt-get "${apt_opts[@]}" update -qq >&2 || { log "cannot reach bookworm-backports"; return 1; }
  (cd "$LVP_DIR/debs" && apt-get "${apt_opts[@]}" download -qq \
      mesa-vulkan-drivers/bookworm-backports libdrm2/bookworm-backports libdrm-amdgpu1/bookworm-backports >&2) \
    || { log "apt-get download failed"; return 1; }
  for deb in "$LVP_DIR"/debs/*.deb; do dpkg -x "$deb" "$LVP_DIR/root"; done
  rm -rf "$LVP_DIR/debs" "$LVP_DIR/lists" "$LVP_DIR/archives"
  [ -f "$LVP_LIB/libvulkan_lvp.so" ] || { log "libvulkan_lvp.so not found in the packages"; return 1; }
  touch "$LVP_DIR/.complete"
}

write_lvp_icd() {
  local api
  api="$(sed -n 's/.*"api_version": *"\([^"]*\)".*/\1/p' "$LVP_DIR/root/usr/share/vulkan/icd.d/lvp_icd.json" 2>/dev/null | head -1)"
  cat > "$LVP_ICD" <<EOF
{ "file_format_version": "1.0.0", "ICD": { "library_path": "$LVP_LIB/libvulkan_lvp.so", "api_version": "${api:-1.3.0}" } }
EOF
}

XDG_DIR="$CACHE/xdg-runtime"
mkdir -p "$XDG_DIR"; chmod 0700 "$XDG_DIR"

# Probes an adapter with Dawn (when node and the webgpu package are installed): prints its description.
probe() {  # probe ICD [LD_LIBRARY_PATH]
  command -v node >/dev/null && [ -d "$ROOT/node_modules/webgpu" ] || { echo "unprobed"; return 0; }
  (cd "$ROOT" && VK_ICD_FILENAMES="$1" LD_LIBRARY_PATH="${2:-}" XDG_RUNTIME_DIR="$XDG_DIR" timeout 60 node --input-type=module -e '
    const { create } = await import("webgpu");
    const a = await create([]).requestAdapter();
    if (!a) { console.log("no-adapter"); process.exit(0); }
    const d = await a.requestDevice(); d.destroy();
    console.log("ok " + (a.info.description || a.info.vendor));' 2>/dev/null | tail -1) || echo "probe-failed"
}

ICD=""; LIBPATH=""; KIND=""
if [ "$MODE" != swiftshader ]; then
  if fetch_lavapipe; then
    write_lvp_icd
    if LD_LIBRARY_PATH="$LVP_LIB" ldd "$LVP_LIB/libvulkan_lvp.so" | grep -q 'not found'; then
      log "lavapipe has unresolved libraries: $(LD_LIBRARY_PATH="$LVP_LIB" ldd "$LVP_LIB/libvulkan_lvp.so" | grep 'not found' | tr -s ' \n' ' ')"
    else
      result="$(probe "$LVP_ICD" "$LVP_LIB")"
      case "$result" in
        ok*|unprobed) ICD="$LVP_ICD"; LIBPATH="$LVP_LIB"; KIND="lavapipe ($result)" ;;
        *) log "lavapipe does not give a Dawn adapter ($result)" ;;
      esac
    fi
  fi
  if [ -z "$ICD" ] && [ "$MODE" = lavapipe ]; then log "lavapipe is not usable"; exit 1; fi
fi
if [ -z "$ICD" ]; then
  if [ -f "$SWIFTSHADER_ICD" ]; then
    ICD="$SWIFTSHADER_ICD"; KIND="SwiftShader ($(probe "$ICD"))"
  else
    log "no Vulkan ICD: neither lavapipe nor chromium's SwiftShader ($SWIFTSHADER_ICD) is available"
    exit 1
  fi
fi
log "using $KIND: $ICD"

ENV_LINES="export VK_ICD_FILENAMES='$ICD'
export LD_LIBRARY_PATH='$LIBPATH'\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}
export XDG_RUNTIME_DIR='$XDG_DIR'"
[ -z "$LIBPATH" ] && ENV_LINES="export VK_ICD_FILENAMES='$ICD'
export XDG_RUNTIME_DIR='$XDG_DIR'"
echo "$ENV_LINES" > "$CACHE/env.sh"
echo "$ENV_LINES"
