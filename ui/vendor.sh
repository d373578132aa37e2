#!/usr/bin/env bash
# vendor.sh fetches the browser libraries Roomhub serves from /static/vendor/
# and records their checksums in static/vendor/VERSIONS.md.
#
# The files are committed; nothing is fetched at build or run time. Run this
# script only to change a version, then review the diff of VERSIONS.md.
# `go test ./ui/...` fails if a vendored file does not match VERSIONS.md.
#
# Needs: bash, node and npm (the npm registry), tar.
set -euo pipefail
shopt -s inherit_errexit

# Pinned on purpose: htmx 4.x is a different API; do not follow "latest".
HTMX_VERSION=2.0.11
# The live rooms page: server-sent events, one-way, reconnecting by itself.
HTMX_SSE_VERSION=2.2.4
AGORA_VERSION=4.24.8

here=$(cd "$(dirname "$0")" && pwd)
dest="$here/static/vendor"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$dest"

# pack NAME VERSION: downloads the tarball into $tmp and prints npm's JSON.
pack() {
	(cd "$tmp" && npm pack --json --silent "$1@$2")
}

# vendor NAME VERSION PATH_IN_PACKAGE: extracts one file into $dest and
# prints a tab-separated record: name, version, file, sha256, integrity, license.
vendor() {
	local name=$1 version=$2 file=$3
	local json tgz integrity
	json=$(pack "$name" "$version")
	tgz=$(printf '%s' "$json" | node -e '
		let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
			const p = JSON.parse(s)[0];
			process.stdout.write(p.filename);
		});')
	integrity=$(printf '%s' "$json" | node -e '
		let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
			process.stdout.write(JSON.parse(s)[0].integrity);
		});')
	# Check the tarball against the integrity string npm reported.
	node -e '
		const crypto = require("crypto"), fs = require("fs");
		const [file, want] = process.argv.slice(1);
		const [alg, b64] = want.split(/-(.*)/s);
		const got = crypto.createHash(alg).update(fs.readFileSync(file)).digest("base64");
		if (got !== b64) { console.error(file + ": integrity mismatch"); process.exit(1); }
	' "$tmp/$tgz" "$integrity"

	mkdir -p "$tmp/x-$name"
	tar -xzf "$tmp/$tgz" -C "$tmp/x-$name" "package/$file" package/package.json
	local base
	base=$(basename "$file")
	cp "$tmp/x-$name/package/$file" "$dest/$base"
	chmod 0644 "$dest/$base"

	node -e '
		const crypto = require("crypto"), fs = require("fs");
		const [name, version, file, integrity, pkgjson] = process.argv.slice(1);
		const pkg = JSON.parse(fs.readFileSync(pkgjson, "utf8"));
		if (pkg.name !== name || pkg.version !== version) {
			console.error("unexpected package " + pkg.name + "@" + pkg.version); process.exit(1);
		}
		const sha = crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
		const base = file.split("/").pop();
		console.log([name, version, base, sha, integrity, pkg.license || "see package"].join("\t"));
	' "$name" "$version" "$dest/$base" "$integrity" "$tmp/x-$name/package/package.json"
}

records=$(
	vendor htmx.org "$HTMX_VERSION" dist/htmx.min.js
	vendor htmx-ext-sse "$HTMX_SSE_VERSION" dist/sse.min.js
	vendor agora-rtc-sdk-ng "$AGORA_VERSION" AgoraRTC_N-production.js
)

{
	echo "# Vendored browser libraries"
	echo
	echo "Written by ui/vendor.sh from the npm registry; do not edit by hand."
	echo "The sha256 column is checked by \`go test ./ui/...\`; the npm integrity"
	echo "string is that of the package tarball the file was taken from."
	echo
	echo "| Package | Version | File | SHA-256 | npm integrity | License |"
	echo "| --- | --- | --- | --- | --- | --- |"
	printf '%s\n' "$records" | while IFS=$'\t' read -r name version file sha integrity license; do
		echo "| $name | $version | $file | $sha | $integrity | $license |"
	done
} >"$dest/VERSIONS.md"

echo "vendored into $dest:"
cat "$dest/VERSIONS.md"
