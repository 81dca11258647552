# nginx for bench/proxy.sh and bench/oauth2_proxy.sh (sourced after lib.sh): one process per
# server on the server core, the app every case ends at, and the front nginx of the
# `auth_request` chain with either auth server behind it.

NGINX=${NGINX_BINARY:-$(command -v nginx || echo /usr/sbin/nginx)}
[[ -x $NGINX ]] || die "nginx is required (with the auth_request module): apt-get install nginx-light, or set NGINX_BINARY"

# start_nginx NAME VAR HTTP_BLOCK: one nginx process (no master, one worker) on the server
# core, with HTTP_BLOCK inside `http {}`; it must listen on 127.0.0.1:$PORT. Sets ${VAR}_PID
# and ${VAR}_URL.
start_nginx() {
    local name=$1 var=$2 prefix=$WORK/$1 pid
    mkdir -p "$prefix"
    cat >"$prefix/nginx.conf" <<EOF
worker_processes 1;
pid $prefix/nginx.pid;
error_log $prefix/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $prefix/client_body_temp;
    proxy_temp_path $prefix/proxy_temp;
    fastcgi_temp_path $prefix/fastcgi_temp;
    uwsgi_temp_path $prefix/uwsgi_temp;
    scgi_temp_path $prefix/scgi_temp;
    # wrk's connections are never closed for having served too many requests.
    keepalive_requests 1000000;
$3
}
EOF
    "$NGINX" -t -p "$prefix" -c "$prefix/nginx.conf" >/dev/null 2>&1 ||
        die "nginx rejects the configuration of $name: $("$NGINX" -t -p "$prefix" -c "$prefix/nginx.conf" 2>&1)"
    NGINX='' taskset -c "$SERVER_CPU" "$NGINX" -p "$prefix" -c "$prefix/nginx.conf" -g 'daemon off; master_process off;' \
        >"$prefix/out.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_http "http://127.0.0.1:$PORT/" "nginx ($name)" "$pid"
    printf -v "${var}_PID" '%s' "$pid"
    printf -v "${var}_URL" '%s' "http://127.0.0.1:$PORT"
}

# start_app: the app, an nginx that answers `200 ok` to everything and echoes the identity it
# was given: X-Auth-Request-User as X-Seen-User, the preferred username as X-Seen-Username (as
# X-Auth-Request-Preferred-Username) or X-Seen-Forwarded-Username (X-Forwarded-...). Sets APP_PORT, APP_PID and APP_URL.
start_app() {
    free_port; APP_PORT=$PORT
    start_nginx app APP "
    server {
        listen 127.0.0.1:$APP_PORT;
        location / {
            add_header X-Seen-User \$http_x_auth_request_user always;
            add_header X-Seen-Username \$http_x_auth_request_preferred_username always;
            add_header X-Seen-Forwarded-Username \$http_x_forwarded_preferred_username always;
            return 200 \"ok\n\";
        }
    }"
}

# app_cookie_maps COOKIE: the `map`s that make `$app_cookie`, the Cookie header without the
# auth server's cookies named COOKIE (or its chunks), as config/nginx/auth_request.conf does
# for Sekisho's. Nothing without COOKIE.
app_cookie_maps() {
    local cookie=${1:-} run
    [[ -n $cookie ]] || return 0
    run="\"~^(?<kept>(?:[^;]*;)*?)(?:[ \\t]*${cookie}(?:_[^=;]*)?=[^;]*(?:;|\$))+(?<rest>.*)\$\" \"\$kept\$rest\";"
    printf '%s\n' "
    map \$http_cookie \$app_cookie_1 { $run default \$http_cookie; }
    map \$app_cookie_1 \$app_cookie_2 { $run default \$app_cookie_1; }
    map \$app_cookie_2 \$app_cookie_3 { $run default \$app_cookie_2; }
    map \$app_cookie_3 \$app_cookie_4 { $run default \$app_cookie_3; }
    map \$app_cookie_4 \$app_cookie { \"~(?:^|;)[ \\t]*${cookie}(?:_[^=;]*)?=\" \"\"; default \$app_cookie_4; }"
}

# auth_request_locations AUTH APP COOKIE_VAR: the two locations of the chain, as
# config/nginx/auth_request.conf has them: the internal /oauth2/auth subrequest to the
# upstream AUTH, and everything else behind `auth_request`, passed on to the upstream APP with
# the identity Sekisho answered and the Cookie header COOKIE_VAR (`$app_cookie` or
# `$http_cookie`). Both upstreams with kept-alive connections.
auth_request_locations() {
    echo "
        location = /oauth2/auth {
            internal;
            proxy_pass http://$1;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_pass_request_body off;
            proxy_set_header Content-Length \"\";
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Original-URI \$request_uri;
        }
        location / {
            auth_request /oauth2/auth;
            auth_request_set \$user               \$upstream_http_x_auth_request_user;
            auth_request_set \$email              \$upstream_http_x_auth_request_email;
            auth_request_set \$email_verified     \$upstream_http_x_auth_request_email_verified;
            auth_request_set \$groups             \$upstream_http_x_auth_request_groups;
            auth_request_set \$preferred_username \$upstream_http_x_auth_request_preferred_username;
            proxy_set_header X-Auth-Request-User               \$user;
            proxy_set_header X-Auth-Request-Email              \$email;
            proxy_set_header X-Auth-Request-Email-Verified     \$email_verified;
            proxy_set_header X-Auth-Request-Groups             \$groups;
            proxy_set_header X-Auth-Request-Preferred-Username \$preferred_username;
            proxy_set_header Cookie $3;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_set_header X-Forwarded-Host \$host;
            proxy_set_header X-Real-IP \$remote_addr;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_pass http://$2;
        }"
}

# start_front NAME VAR AUTH_PORT COOKIE: the front nginx of the chain, asking the auth server
# on 127.0.0.1:AUTH_PORT at /oauth2/auth for every request and passing the identity it
# answers on to the app, with kept-alive connections to both. COOKIE, when given, is the auth
# server's cookie name: its cookies are stripped from what the app gets, as
# config/nginx/auth_request.conf does for Sekisho's. Sets ${VAR}_PID and ${VAR}_URL.
# Up to 320 idle connections are kept to each, ingress-nginx's default
# (upstream-keepalive-connections): with fewer than the clients at once, nginx opens and
# closes a connection for most requests, and at thousands a second the loopback ports left
# in TIME_WAIT make every new connection dear for the kernel.
start_front() {
    local name=$1 var=$2 auth_port=$3 cookie=${4:-} app_cookie='$http_cookie'
    [[ -n $cookie ]] && app_cookie='$app_cookie'
    free_port
    start_nginx "$name" "$var" "$(app_cookie_maps "$cookie")
    upstream auth {
        server 127.0.0.1:$auth_port;
        keepalive 320;
        keepalive_requests 1000000;
    }
    upstream app {
        server 127.0.0.1:$APP_PORT;
        keepalive 320;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$PORT;$(auth_request_locations auth app "$app_cookie")
    }"
}
