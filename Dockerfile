# syntax=docker/dockerfile:1
#
# testingd's container image: a static Go binary (no cgo, -trimpath, version
# stamped) on Debian slim with git, running as an unprivileged user. See
# docs/DEPLOY.md ("Container image") for how it is built, run and why.
#
#   docker build -t testingd --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg REVISION=$(git rev-parse HEAD) .
#   docker build --target static -t testingd:static .   # scratch: no git, no shell
#
# No Node or npm: the web UI's bundle is committed in webui/dist and embedded by
# go:embed. deploy/deploy_test.go runs this file's `go build` line and checks
# that the binary it makes is static.

ARG GO_VERSION=1.26.8

# ---- build: the binary, for the target platform, compiled on the build platform.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS TARGETARCH
# No .git in the build context (.dockerignore): the version and revision come in as
# build arguments and are stamped with -X (cmd/testingd/wire.go), and -buildvcs=false
# says so instead of letting go build look for a repository.
ARG VERSION=dev
ARG REVISION=
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -buildvcs=false \
    -ldflags="-s -w -X main.version=${VERSION} -X main.revision=${REVISION}" \
    -o /out/testingd ./cmd/testingd

# ---- static: nothing but the binary and the CA certificates (from the build
# stage's Debian), on an empty image. For deployments that never shell out to git
# (no --git-dir): smallest and with nothing to exploit, but also no shell to debug
# with. A numeric user: there is no /etc/passwd to name one in.
FROM scratch AS static
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/testingd /usr/local/bin/testingd
# Production defaults (every one is overridden by a flag or another -e): serve on
# every interface of the container, which --auth dev refuses, so Open Library's
# session cookies are required.
ENV TESTINGD_LISTEN=:8080 \
    TESTINGD_AUTH=openlibrary \
    TESTINGD_BASE_PATH=/status/v2/ \
    TESTINGD_LOG_FORMAT=json
WORKDIR /openlibrary
EXPOSE 8080
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/testingd"]

# ---- runtime (the default): Debian 12 slim with git and CA certificates.
# git is here because testingd's Open Library mirror shells out to it and needs
# git >= 2.38 (`merge-tree --write-tree`); bookworm ships 2.39. Debian rather
# than Alpine: the same libc and git as the testing box's own Debian, and no musl
# surprises when git runs hooks or resolves names.
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates git \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 testingd \
    && useradd --system --uid 10001 --gid testingd --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin testingd
COPY --from=build /out/testingd /usr/local/bin/testingd
ENV TESTINGD_LISTEN=:8080 \
    TESTINGD_AUTH=openlibrary \
    TESTINGD_BASE_PATH=/status/v2/ \
    TESTINGD_LOG_FORMAT=json
# The shared working directory (the state file, the build transcript, the audit
# trail) is mounted here; see docs/DEPLOY.md for whose uid must own it.
WORKDIR /openlibrary
EXPOSE 8080
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/testingd"]
