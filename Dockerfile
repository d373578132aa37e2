# Roomhub in a container: one static binary, no cgo.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /roomhub ./cmd/roomhub

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /roomhub /roomhub
ENV ADDR=:8080 DATA_DIR=/data
EXPOSE 8080
ENTRYPOINT ["/roomhub"]
CMD ["serve"]
