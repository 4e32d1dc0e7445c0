# tenax in a container: the README's install steps ("Install") on Debian 12 slim, run as a
# non-root user with the SQLite store on a volume.
#   docker build -t tenax .
#   docker run -p 8010:8010 -e TENAX_ADMIN_TOKEN=... -e AI_API_KEY=... -v tenax-data:/var/lib/tenax tenax
# Then open http://127.0.0.1:8010/dashboard.

# --- build: the README's steps 1-3 ---------------------------------------------------------
FROM debian:12-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config libuv1-dev libhttp-parser-dev \
      libjansson-dev libcjson-dev libsqlite3-dev libpq-dev libssl-dev libcmocka-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make build && make install PREFIX=/usr/local DESTDIR=/stage

# --- run: the runtime libraries, the installed files, a user of its own --------------------
FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libuv1 libhttp-parser2.9 libjansson4 libcjson1 libsqlite3-0 libpq5 libssl3 \
      ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /var/lib/tenax --create-home --shell /usr/sbin/nologin tenax
COPY --from=build /stage/usr/local/ /usr/local/
USER tenax
WORKDIR /var/lib/tenax
VOLUME /var/lib/tenax
# Beyond loopback tenax needs TENAX_ADMIN_TOKEN (docker run -e TENAX_ADMIN_TOKEN=...): it refuses
# to start without one.
ENV TENAX_LISTEN=0.0.0.0:8010 \
    TENAX_STORE=sqlite:/var/lib/tenax/tenax.db
EXPOSE 8010
# `tenax diag --url` exits 0 only on a 200 with a JSON object: no curl needed in the image.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["tenax", "diag", "--url", "http://127.0.0.1:8010/healthz", "--json"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["tenax"]
CMD ["serve"]
