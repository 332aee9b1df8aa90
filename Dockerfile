# Build a static binary (pure-Go SQLite, no cgo) and run it as non-root from
# a distroless image. The embedded store lives on the /data volume.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/incidentd ./cmd/incidentd \
 && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/incidentctl ./cmd/incidentctl \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/incidentd /out/incidentctl /usr/local/bin/
COPY configs/ /etc/incidentd/
COPY --from=build --chown=nonroot:nonroot /out/data /data
VOLUME /data
EXPOSE 9095
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/incidentd"]
CMD ["--config.file=/etc/incidentd/incidentd.yml", "--storage.dsn=sqlite:///data/incidentd.db"]
