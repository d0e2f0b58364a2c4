# Tocsin's container image (docs/operations.md "Container image"): a build stage with the
# Debian 12 toolchain and -dev packages, and a slim runtime stage with only the libraries the
# binary links (scripts/check-deploy compares this list with the binary's NEEDED entries).
#   docker build --build-arg TOCSIN_COMMIT=$(git rev-parse --short=12 HEAD) -t tocsin .
#   docker run -p 8080:8080 -v tocsin-data:/var/lib/tocsin -e TOCSIN_GENERIC_TOKEN=... tocsin
# .git is not sent to the build (.dockerignore): without TOCSIN_COMMIT, `tocsin --version` says
# "commit unknown: not built from a git checkout".

FROM debian:12 AS build
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      g++ cmake ninja-build pkg-config \
      libcpp-httplib-dev nlohmann-json3-dev libsqlitecpp-dev libsqlite3-dev libspdlog-dev \
      libfmt-dev doctest-dev libyaml-cpp-dev libcli11-dev libssl-dev libre2-dev libzstd-dev \
      libpq-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
ARG TOCSIN_COMMIT=
# Only the binary (not the tests): the flags of scripts/build release, without debug info.
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -DNDEBUG" "-DTOCSIN_GIT_COMMIT=${TOCSIN_COMMIT}" \
 && ninja -C build tocsin \
 && strip build/tocsin \
 && build/tocsin --version

FROM debian:12-slim AS runtime
# The runtime libraries of the binary's NEEDED entries (libc6, libgcc-s1 and libstdc++6 are in
# the base image), and ca-certificates: the SNS certificate fetch and HTTPS channels verify
# against /etc/ssl/certs/ca-certificates.crt.
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      ca-certificates \
      libcpp-httplib0.11 libfmt9 libpq5 libre2-9 libspdlog1.10 libsqlite3-0 \
      libssl3 libyaml-cpp0.7 libzstd1 \
 && rm -rf /var/lib/apt/lists/*
# A fixed, non-root uid: a volume's files keep their owner across image versions.
RUN groupadd --system --gid 10001 tocsin \
 && useradd --system --uid 10001 --gid tocsin --home-dir /var/lib/tocsin --no-create-home \
      --shell /usr/sbin/nologin tocsin \
 && install -d -m 0750 -o tocsin -g tocsin /var/lib/tocsin
COPY --from=build /src/build/tocsin /usr/bin/tocsin
COPY rules.yaml /etc/tocsin/rules.yaml
# The SQLite database and its -wal/-shm: a volume, so it outlives the container.
VOLUME ["/var/lib/tocsin"]
WORKDIR /var/lib/tocsin
ENV TOCSIN_RULES=/etc/tocsin/rules.yaml \
    TOCSIN_DB=/var/lib/tocsin/tocsin.db \
    TOCSIN_LISTEN=0.0.0.0:8080
EXPOSE 8080
USER tocsin:tocsin
# /readyz: 200 while the instance can commit (README "Selecting the database"). bash's
# /dev/tcp, so the image needs no curl; the port is TOCSIN_LISTEN's. The start period covers
# the startup quick_check of a large database (README "Storage").
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${TOCSIN_LISTEN##*:} && printf 'GET /readyz HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && IFS= read -r -t 4 line <&3 && [[ $line == 'HTTP/1.1 200 '* ]]"]
# SIGTERM: stop accepting, finish in-flight requests, commit what is queued, exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tocsin"]
CMD ["serve"]
