# Roomhub in a container: one static binary, no cgo.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /roomhub ./cmd/roomhub
# The data directory (SQLite file, rotated logs, development keys), made
# here because the runtime image has no shell.
RUN mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /roomhub /roomhub
# Owned by the image's user (nonroot, uid 65532), which the server runs as:
# the default SQLite store must be able to create its file there.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV ADDR=:8080 DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD ["/roomhub", "healthcheck"]
ENTRYPOINT ["/roomhub"]
CMD ["serve"]
