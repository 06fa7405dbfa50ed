# syntax=docker/dockerfile:1
# A static xmppbg image. Build and run (needs a Docker engine):
#
#   docker build -t xmppbg .
#   docker run --rm -e XMPPBG_PASSWORD xmppbg send --jid alice@example.org bob@example.org hello
#
# To talk to the Prosody containers of testdata/compose.yaml (prosody/prosody:0.12,
# and prosody/prosody:13.0 with --profile modern, direct TLS on 5323: add
# --direct-tls --addr 127.0.0.1:5323), use the host network and its CA file:
# see README.md.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/xmppbg ./cmd/xmppbg

# distroless/static has the CA certificates and a non-root user, nothing else.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/xmppbg /xmppbg
USER nonroot:nonroot
ENTRYPOINT ["/xmppbg"]
