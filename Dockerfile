# Sekisho's container image. Built with Cargo in the official Rust image; run from a slim
# Debian of the same release holding only the shared libraries the binary links (OpenSSL,
# and libxml2 with xmlsec1 for SAML), as an unprivileged user. The demo's app
# (examples/whoami.rs) is in the image too, for docker-compose.yml.
#
#   docker build -t sekisho .
#   docker run --rm -e SEKISHO_LISTEN=0.0.0.0:4180 -e SEKISHO_SESSION__SECRET=... sekisho
#
# The default command serves /etc/sekisho/sekisho.toml (config/sekisho.toml); mount your own
# there, or set keys through the environment (SEKISHO_<SECTION>__<KEY>).

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build
# samael builds against libxmlsec1 and libxml2 (bindgen needs libclang); openssl links OpenSSL.
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev libxml2-dev libxmlsec1-dev libclang-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, in their own layer: a change to Sekisho's code does not fetch them again.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && touch src/lib.rs && echo 'fn main() {}' > src/main.rs \
 && cargo fetch --locked \
 && rm -rf src
COPY src src
COPY examples examples
RUN cargo build --release --locked --bin sekisho --example whoami

FROM debian:${DEBIAN_RELEASE}-slim
# What `readelf -d sekisho` names besides libc: libssl3 (libssl, libcrypto), libxml2,
# libxmlsec1 and libxmlsec1-openssl. ca-certificates for an https Keycloak.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 libxml2 libxmlsec1 libxmlsec1-openssl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin sekisho
COPY --from=build /src/target/release/sekisho /usr/local/bin/sekisho
COPY --from=build /src/target/release/examples/whoami /usr/local/bin/whoami
COPY config/sekisho.toml /etc/sekisho/sekisho.toml
USER 10001:10001
EXPOSE 4180
ENTRYPOINT ["/usr/local/bin/sekisho"]
CMD ["serve", "--config", "/etc/sekisho/sekisho.toml"]
