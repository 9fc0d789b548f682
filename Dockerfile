# vestibule: multi-stage build, small non-root runtime image.
# The build step is the same release build CI's toolchain performs:
#   cargo build --release --locked --bin vestibule

# Same toolchain as CI (rustc 1.95), so the image builds what CI tested.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
RUN cargo build --release --locked --bin vestibule

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin vestibule \
 && mkdir -p /etc/vestibule /var/lib/vestibule \
 && chown vestibule /var/lib/vestibule
COPY --from=build /src/target/release/vestibule /usr/local/bin/vestibule
COPY config/vestibule.toml /etc/vestibule/vestibule.toml
USER vestibule
# Public traffic; the admin port (metrics, health) listens on 127.0.0.1 by
# default: set [server] admin_listen = "0.0.0.0:9090" to scrape it from outside
# the container, on a network only your monitoring reaches.
EXPOSE 8080 9090
# Configuration (and the secret file) / state.
VOLUME ["/etc/vestibule", "/var/lib/vestibule"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/vestibule"]
CMD ["--config", "/etc/vestibule/vestibule.toml"]
