# syntax=docker/dockerfile:1

# mtguard container image.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t mtguard .
#   docker run -p 8080:8080 -p 9090:9090 \
#     -v $PWD/mtguard.yaml:/etc/mtguard/mtguard.yaml:ro -v mtguard-data:/data mtguard
#
# Inside a container the config's listen addresses must be 0.0.0.0:8080 / 0.0.0.0:9090 (not
# 127.0.0.1) for the published ports to reach them, and store.path should be relative (it is
# resolved against /data) or under /data, so the transaction log lives on the volume.

FROM golang:1.26 AS build
WORKDIR /src
# Dependencies first, so that a change to the code does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
# CGO_ENABLED=0: a static binary for the distroless static image (bbolt is pure Go).
# mtguard-log is mtguard log alone, for scripts that call it often (it starts in a few
# milliseconds where mtguard takes about 15): docker exec CONTAINER /mtguard-log --record KEY.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$VERSION" -o /mtguard . && \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /mtguard-log ./cmd/mtguard-log
# An empty directory to become /data in the final image, which has no shell to mkdir with.
RUN mkdir /data-dir

# distroless/static holds CA certificates (for HTTPS vendors), tzdata and /etc/passwd, and runs
# as the nonroot user (65532) by default.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /mtguard /mtguard-log /
# Create /data owned by nonroot, so that a new named volume inherits a directory the process can
# write the bbolt file into. A bind-mounted host directory must be writable by uid 65532.
COPY --from=build --chown=65532:65532 /data-dir /data
WORKDIR /data
VOLUME /data
# 8080: the proxy (listen); 9090: the admin API (admin.listen).
EXPOSE 8080 8443 9090
USER 65532:65532
ENTRYPOINT ["/mtguard"]
CMD ["serve", "--config", "/etc/mtguard/mtguard.yaml"]
