# Floe: build the binary (cgo, for SQLite) and run it on a slim Debian.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -tags sqlite_fts5 -trimpath -ldflags "-s -w" -o /out/floe ./cmd/floe

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/floe --shell /usr/sbin/nologin floe \
    && mkdir -p /var/lib/floe /etc/floe && chown floe:floe /var/lib/floe
COPY --from=build /out/floe /usr/local/bin/floe
COPY etc/floe.toml /etc/floe/floe.toml
# Standard ports: SMTP, submissions, submission, POP3(S), IMAP(S), HTTP(S), client services.
EXPOSE 25 465 587 110 995 143 993 80 443 5229
VOLUME ["/var/lib/floe"]
USER floe
# Binding ports below 1024 as a non-root user needs this capability, which
# docker-compose.yml grants.
ENTRYPOINT ["/usr/local/bin/floe"]
CMD ["serve", "--config", "/etc/floe/floe.toml"]
