# syntax=docker/dockerfile:1

# The builder runs on the build machine's platform and cross-compiles, so a
# multi-platform build needs no emulation.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src

COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download

COPY . .
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=unknown
ARG REVISION=unknown
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath \
      -ldflags "-s -w -X github.com/prometheus/common/version.Version=$VERSION -X github.com/prometheus/common/version.Revision=$REVISION" \
      -o /out/batchwatch ./cmd/batchwatch

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/batchwatch /usr/local/bin/batchwatch
USER 65532:65532
EXPOSE 9929
ENTRYPOINT ["/usr/local/bin/batchwatch"]
CMD ["serve"]
