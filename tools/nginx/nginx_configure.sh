#!/usr/bin/env bash
# nginx_configure.sh NGINX_SRC ADDON_DIR OUT_DIR - nginx's generated build
# files for ngx_http_fhirpam_module, made the way Debian builds its own
# dynamic modules (dh_nginx, Debian::Debhelper::Buildsystem::nginx_mod): run
# nginx-dev's ./configure with the flags the packaged nginx was built with
# (conf_flags: --with-compat and the rest), adding this module. Only three of
# its files are used, copied to OUT_DIR: ngx_auto_config.h and
# ngx_auto_headers.h (so that structures and NGX_MODULE_SIGNATURE match the
# installed nginx binary) and the module list from tools/nginx/config.
#
# configure takes ~25 s; it runs again only when `config` or this script
# changes. Its output is in OUT_DIR/nginx-configure.log.
set -euo pipefail
src=$1
addon=$2
out=$(mkdir -p "$3" && cd "$3" && pwd)
addon=$(cd "$addon" && pwd)
objs=$out/nginx-objs
log=$out/nginx-configure.log
stamp=$objs/ngx_auto_config.h
if [ ! -f "$stamp" ] || [ "$addon/config" -nt "$stamp" ] || [ "$0" -nt "$stamp" ]; then
    rm -rf "$objs"
    mkdir -p "$objs"
    # shellcheck disable=SC1091
    if ! (cd "$src" && . ./conf_flags && ./configure "${NGX_CONF_FLAGS[@]}" \
        --add-dynamic-module="$addon" --builddir="$objs") >"$log" 2>&1; then
        echo "nginx_configure.sh: nginx's configure failed in $src; the last lines of $log:" >&2
        tail -n 30 "$log" >&2
        rm -f "$stamp"
        exit 1
    fi
fi
cp "$objs/ngx_auto_config.h" "$objs/ngx_auto_headers.h" \
    "$objs/ngx_http_fhirpam_module_modules.c" "$out/"
