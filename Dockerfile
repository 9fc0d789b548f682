# vestibule: multi-stage build, small non-root runtime image.
# The build step is the profile-guided release build CI performs after the
# tests: scripts/build-pgo (a release build trained with the surge
# simulator, then built again with the profile; docs/BENCHMARKS.md).

# Same toolchain as CI (rustc 1.95), so the image builds what CI tested.
FROM rust:1.95-bookworm AS build
# llvm-profdata of the toolchain's own LLVM, for the profile-guided build
# (the component's older name as a fallback).
RUN rustup component add llvm-tools || rustup component add llvm-tools-preview
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
# Cargo.toml declares the benchmark targets, so the manifest does not parse
# without benches/ (the surge simulator there also trains the build).
COPY benches ./benches
# Download the locked dependencies in their own layer, so editing src/ does
# not download them again. Parsing the manifest needs the targets to exist,
# not to compile: empty stand-ins do, and are removed.
RUN mkdir src && touch src/main.rs src/lib.rs \
 && cargo fetch --locked \
 && rm -r src
COPY src ./src
COPY scripts ./scripts
# Three release builds' time (instrumented, trained, optimised); the
# training run starts vestibule and a backend on 127.0.0.1 inside the
# build container.
RUN scripts/build-pgo

# Same Debian release as the build stage, so the glibc the binary links
# against is there. Nothing is installed on top: no ca-certificates (the
# upstream is plain HTTP), no init (vestibule handles SIGTERM and SIGINT
# itself as PID 1 and starts no child processes), no curl.
FROM debian:bookworm-slim
# A fixed numeric UID/GID, so `USER` below is numeric (Kubernetes'
# runAsNonRoot can verify it) and a bind-mounted state directory can be
# chowned to it on the host: chown 10001:10001 /srv/vestibule-state.
RUN groupadd --system --gid 10001 vestibule \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
      --home-dir /var/lib/vestibule --shell /usr/sbin/nologin vestibule \
 && mkdir -p /etc/vestibule /var/lib/vestibule \
 && chown 10001:10001 /var/lib/vestibule \
 && chmod 0700 /var/lib/vestibule
COPY --from=build /src/target/pgo/vestibule /usr/local/bin/vestibule
# The example configuration. It saves no state: to keep the line and the
# sessions across restarts, mount your own with
#   [store] state_file = "/var/lib/vestibule/vestibule.state"
# (an absolute path: a relative one is resolved against /etc/vestibule,
# which the service does not write).
COPY config/vestibule.toml /etc/vestibule/vestibule.toml
USER 10001:10001
# Public traffic; the admin port (metrics, health, rooms API) listens on
# 127.0.0.1 by default. To reach it from outside the container, set
# [server] admin_listen = "0.0.0.0:9090" together with admin_token_file
# (vestibule refuses a non-loopback admin address without a token), on a
# network only your monitoring and operators reach.
EXPOSE 8080 9090
# Configuration (and the secret file) / state.
VOLUME ["/etc/vestibule", "/var/lib/vestibule"]
# No HEALTHCHECK: the image has no HTTP client to run one with (curl is left
# out on purpose). Let the orchestrator probe the admin port instead:
# GET /healthz (liveness) and GET /readyz (readiness, 503 while draining),
# which needs admin_listen on a reachable address as above.
#
# On SIGTERM vestibule turns /readyz unready, waits [server] shutdown_delay,
# then gives in-flight requests up to [server] shutdown_grace (30s by
# default) and saves its state. Docker's default stop timeout is 10s and
# Kubernetes' grace period 30s: allow more than delay + grace
# (`docker stop -t 45`, compose `stop_grace_period: 45s`,
# `terminationGracePeriodSeconds: 45`), or the drain is cut short by SIGKILL.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/vestibule"]
CMD ["--config", "/etc/vestibule/vestibule.toml"]
