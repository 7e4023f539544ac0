# Sourced by start.sh and start-cluster.sh (after ../lib.sh): Debian's nginx
# and libnginx-mod-nchan (apt-get install on first use); sets MOD and NGINX.
MOD=/usr/lib/nginx/modules/ngx_nchan_module.so
if ! command -v nginx >/dev/null || [ ! -f "$MOD" ]; then
  log "apt-get install -y nginx libnginx-mod-nchan"
  DEBIAN_FRONTEND=noninteractive apt-get install -y nginx libnginx-mod-nchan >&2
  # Debian starts its own nginx on port 80 after install: not ours, leave it unless it was just started
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
