#!/usr/bin/env bash
# tests/clients/nginx.sh — nginx (master + 2 workers) serving TLS with its keys on the token
# through the libp11 OpenSSL engine, across reloads.
#
#   eval "$(ci/softhsm/setup DIR)"
#   tests/clients/nginx.sh              # through kmsbridge ($KMSBRIDGE_MODULE)
#   tests/clients/nginx.sh --direct     # SoftHSM2 directly, to validate the suite
#   SUITES=nginx tests/clients/run-all --hardware    # (or --software) from run-all
#
# A forking server is the host process a PKCS#11 module meets most often: the master loads
# the keys (C_Initialize, C_Login), forks workers, and libp11 re-initialises the module in
# each worker on its first key use, in the middle of a client's handshake. Whatever the
# module (or a backend library it starts then) leaves behind — an error on the thread's
# OpenSSL error queue, a changed errno or signal mask — fails that handshake or makes nginx
# log "[alert] ignoring stale global SSL error" (issue 11). So this suite:
#   - generates an RSA-2048 and a P-256 key pair on the token with pkcs11-tool and makes a
#     self-signed certificate for each with `openssl req` through the engine;
#   - writes nginx.conf in its work dir (pid, logs, temp paths there; `-p`/`-e` so nothing
#     is written under /var) with an RSA and an EC server block on two free loopback ports,
#     ssl_protocols TLSv1.2 TLSv1.3, keys as `engine:pkcs11:<pkcs11: URI with pin-value>`,
#     the engine's MODULE_PATH in a private OPENSSL_CONF, every exported variable passed to
#     the workers with `env` (nginx clears their environment; the rig's variables, whatever
#     kind of rig, must reach the module there), session caches and tickets off so that
#     every handshake signs with the token key;
#   - starts nginx as the current user (`user` only when root), then makes NGINX_HANDSHAKES
#     (1000) handshakes in NGINX_RELOADS + 1 rounds (5 reloads): after each `nginx -s reload`
#     it waits until the old workers are gone and sends the round at once, NGINX_CONCURRENCY
#     (8) at a time, alternating RSA/EC and TLS 1.2/1.3 (nginx/handshakes.py, Python's ssl
#     over the system OpenSSL: a new connection per handshake, certificate pinned, one HTTP
#     request answered "ok"; a failure is counted, never retried);
#   - fails on any failed handshake and on any [alert], [crit] or [emerg] line (or a stale
#     SSL error) in nginx's error log. It prints how many of the freshly forked workers
#     served handshakes, from the access log's $pid.
# nginx is installed when missing (Debian's `nginx`, as root; ci/softhsm/install has it).
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
parse_args "$@"
cd "$WORK"

HANDSHAKES=${NGINX_HANDSHAKES:-1000}
RELOADS=${NGINX_RELOADS:-5}
CONCURRENCY=${NGINX_CONCURRENCY:-8}
NG=$WORK/nginx
mkdir -p "$NG/logs" "$NG/tmp"

NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [ ! -x "$NGINX" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "# nginx missing; installing it with ci/softhsm/install (its service is never started)"
  "$here/../../ci/softhsm/install" > "$WORK/log/apt.log" 2>&1
  NGINX=$(command -v nginx || echo /usr/sbin/nginx)
fi
if [ ! -x "$NGINX" ]; then
  echo "FAIL set-up: nginx not found; run ci/softhsm/install (Debian package nginx)"
  SETUP_FAILED=$((SETUP_FAILED + 1)); summary
fi

find_engine

# The engine is initialised when the configuration loads (no `init = 0`): nginx's
# ENGINE_load_private_key wants an initialised engine.
engine_conf openssl.cnf
# Only nginx and `openssl req` get it; the TLS client must not load the module.
OSSL_CONF=$WORK/openssl.cnf

pct() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
RSA_ID=$(rid) EC_ID=$(rid)
RSA_LABEL=nginx-rsa-$RUN EC_LABEL=nginx-ec-$RUN
TOK=$(pct "$TOKEN_LABEL") PINQ=$(pct "$USER_PIN")
RSA_URI="pkcs11:token=$TOK;object=$RSA_LABEL;type=private;pin-value=$PINQ"
EC_URI="pkcs11:token=$TOK;object=$EC_LABEL;type=private;pin-value=$PINQ"

# nginx and openssl name the key (with its pin-value) when they cannot load it: what
# this suite prints of theirs goes through redact.
redact() { sed -E 's/(pin-value=)[^;" )]*/\1(redacted)/g'; }

gen_keys() {
  p11l --keypairgen --key-type rsa:2048 --id "$RSA_ID" --label "$RSA_LABEL" --usage-sign --usage-decrypt
  p11l --keypairgen --key-type EC:prime256v1 --id "$EC_ID" --label "$EC_LABEL" --usage-sign
}
check "pkcs11-tool generates the servers' RSA-2048 and P-256 key pairs on the token" gen_keys

selfsigned() { # URI OUT
  OPENSSL_CONF=$OSSL_CONF openssl req -new -x509 -days 2 -sha256 -subj "/CN=kmsbridge nginx test $RUN" \
    -engine pkcs11 -keyform engine -key "$1" -out "$2" 2>&1 | redact
  openssl verify -CAfile "$2" "$2"
}
check "openssl req -x509 through the engine: self-signed RSA certificate" selfsigned "$RSA_URI" rsa_cert.pem
check "openssl req -x509 through the engine: self-signed P-256 certificate" selfsigned "$EC_URI" ec_cert.pem

RSA_PORT=$(free_port) EC_PORT=$(free_port)
while [ "$EC_PORT" = "$RSA_PORT" ]; do EC_PORT=$(free_port); done

write_conf() {
  # As root, nginx would switch the workers to `nobody`, who cannot read the rig; as
  # anyone else it ignores `user` (with a warning), so it is written only for root.
  [ "$(id -u)" = 0 ] && echo "user $(id -un) $(id -gn);"
  cat <<EOF
daemon on;
master_process on;
worker_processes 2;
pid $NG/nginx.pid;
lock_file $NG/nginx.lock;
error_log $NG/logs/error.log notice;
EOF
  # nginx clears the workers' environment; the module there needs the rig's variables
  # (KMSBRIDGE_CONF, SOFTHSM2_CONF, a cluster's node addresses...), whatever their names.
  local v
  for v in $(compgen -e); do
    [[ $v =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] && echo "env $v;"
  done
  cat <<EOF
events { worker_connections 256; }
http {
    client_body_temp_path $NG/tmp/body;
    proxy_temp_path $NG/tmp/proxy;
    fastcgi_temp_path $NG/tmp/fastcgi;
    uwsgi_temp_path $NG/tmp/uwsgi;
    scgi_temp_path $NG/tmp/scgi;
    log_format hs '\$pid \$server_port \$ssl_protocol \$status';
    access_log $NG/logs/access.log hs;
    default_type text/plain;
    keepalive_timeout 0;
    ssl_protocols TLSv1.2 TLSv1.3;
    # No resumption: every handshake signs with the token key.
    ssl_session_cache off;
    ssl_session_tickets off;
    server {
        listen 127.0.0.1:$RSA_PORT ssl;
        ssl_certificate $WORK/rsa_cert.pem;
        ssl_certificate_key "engine:pkcs11:$RSA_URI";
        location / { return 200 "ok\n"; }
    }
    server {
        listen 127.0.0.1:$EC_PORT ssl;
        ssl_certificate $WORK/ec_cert.pem;
        ssl_certificate_key "engine:pkcs11:$EC_URI";
        location / { return 200 "ok\n"; }
    }
}
EOF
}
( umask 077; write_conf > "$NG/nginx.conf" )   # it holds the PIN

ngx() { OPENSSL_CONF=$OSSL_CONF "$NGINX" -p "$NG/" -c "$NG/nginx.conf" -e "$NG/logs/error.log" "$@" 2>&1 | redact; }
master() { cat "$NG/nginx.pid" 2>/dev/null; }
workers() { local m; m=$(master) && [ -n "$m" ] && pgrep -P "$m" | sort -n; }

# wait_new_workers OLD... — until the master has exactly 2 children and none is in OLD
# (old workers finish gracefully and exit; until they are gone they may still accept).
wait_new_workers() {
  local old=" $* " cur n p tries=0
  while [ $tries -lt 400 ]; do
    cur=$(workers || true); n=$(echo "$cur" | grep -c . || true)
    if [ "$n" -eq 2 ]; then
      local stale=0
      for p in $cur; do [[ $old == *" $p "* ]] && stale=1; done
      [ $stale -eq 0 ] && { echo "$cur" | tr '\n' ' '; return 0; }
    fi
    sleep 0.05; tries=$((tries + 1))
  done
  echo "workers not replaced after 20 s: master $(master), children: $(workers | tr '\n' ' ')" >&2
  return 1
}

stop_nginx() {
  local m; m=$(master) || return 0
  [ -n "$m" ] && kill -0 "$m" 2>/dev/null || return 0
  kill -QUIT "$m" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$m" 2>/dev/null || return 0; sleep 0.05; done
  # Workers outlive a killed master: end them by their ids too.
  local w; w=$(pgrep -P "$m" || true)
  kill -KILL "$m" $w 2>/dev/null; return 0
}
trap 'stop_nginx; cleanup_work' EXIT

GEN=$WORK/generations   # "round worker-pid..." per worker generation
start_nginx() {
  ngx
  wait_new_workers > "$WORK/cur"
  echo "0 $(cat "$WORK/cur")" >> "$GEN"
  cat "$WORK/cur"
}
check "nginx starts: master + 2 workers, RSA and EC server blocks with engine keys" start_nginx

RESULTS=$WORK/handshakes.txt
: > "$RESULTS"
rounds=$((RELOADS + 1))
per=$((HANDSHAKES / rounds))
# round R N — N handshakes now (the workers of generation R are fresh)
round() {
  local t0 t1 out when="after start"
  [ "$1" -gt 0 ] && when="after reload $1"
  t0=$(date +%s%N)
  out=$(python3 "$CLIENTS_DIR/nginx/handshakes.py" "$2" "$CONCURRENCY" \
          "$RSA_PORT" "$WORK/rsa_cert.pem" "$EC_PORT" "$WORK/ec_cert.pem" 2>&1)
  t1=$(date +%s%N)
  echo "round $1 $out" | head -n 1 >> "$RESULTS"
  echo "# round $1 ($when): $(echo "$out" | head -n 1) in $(((t1 - t0) / 1000000)) ms"
  echo "$out" | tail -n +2 | sed 's/^/#   /' | tee -a "$WORK/failures.txt"
}
reload() { # R
  local old; old=$(workers | tr '\n' ' ')
  ngx -s reload
  wait_new_workers $old > "$WORK/cur"
  echo "$1 $(cat "$WORK/cur")" >> "$GEN"
}
if [ -n "$(workers || true)" ]; then
  for r in $(seq 0 "$RELOADS"); do
    n=$per
    [ "$r" -eq "$RELOADS" ] && n=$((HANDSHAKES - per * RELOADS))
    if [ "$r" -gt 0 ]; then
      check "nginx -s reload $r: two freshly forked workers replace the old ones" reload "$r"
    fi
    round "$r" "$n"
  done
fi

total_handshakes() {
  cat "$RESULTS"
  local n good bad
  n=$(awk '{ s += $4 } END { print s + 0 }' "$RESULTS")
  good=$(awk '{ s += $6 } END { print s + 0 }' "$RESULTS")
  bad=$(awk '{ s += $8 } END { print s + 0 }' "$RESULTS")
  echo "total: $n handshakes, $good good, $bad failed"
  [ -s "$WORK/failures.txt" ] && cat "$WORK/failures.txt"
  [ "$n" -eq "$HANDSHAKES" ] && [ "$good" -eq "$HANDSHAKES" ] && [ "$bad" -eq 0 ]
}
check "$HANDSHAKES TLS handshakes across $RELOADS reloads (RSA and EC, TLS 1.2 and 1.3): 0 failed" total_handshakes

# Evidence that the rounds reached freshly forked workers: which of them served.
if [ -s "$GEN" ] && [ -s "$NG/logs/access.log" ]; then
  awk 'NR == FNR { for (i = 2; i <= NF; i++) gen[$i] = $1; next }
       ($1 in gen) { hits[$1]++ }
       END { for (p in gen) { n++; if (p in hits) h++ }
             printf "# workers that served handshakes: %d of the %d forked (start + reloads)\n", h, n }' \
    "$GEN" "$NG/logs/access.log"
fi

stop_and_exit() {
  local m; m=$(master)
  ngx -s quit
  for _ in $(seq 200); do kill -0 "$m" 2>/dev/null || return 0; sleep 0.05; done
  echo "master $m still running 10 s after nginx -s quit"; return 1
}
check "nginx -s quit: master and workers exit" stop_and_exit

clean_log() {
  local pat='\[(alert|crit|emerg)\]|stale global SSL error'
  if grep -Eq "$pat" "$NG/logs/error.log"; then
    grep -E "$pat" "$NG/logs/error.log" | head -n 20 | redact
    echo "($(grep -Ec "$pat" "$NG/logs/error.log") such lines)"
    return 1
  fi
  echo "error log clean: $(wc -l < "$NG/logs/error.log") lines, no alert/crit/emerg"
}
check "nginx error log: no [alert], [crit], [emerg] or stale SSL error" clean_log

summary
