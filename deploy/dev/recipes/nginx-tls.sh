# shellcheck shell=bash
# Recipe nginx-tls: as nginx.sh, over TLS through deploy/nginx/site-tls.conf,
# with a certificate made for this run: a throwaway CA (DIR/tls/ca.crt,
# the file clients verify with; its key is deleted once the leaf is
# signed) and a leaf for 127.0.0.1 (DIR/tls/latch.crt, latch.key, where
# site-tls.conf's relative paths point). Run it with COOKIE_SECURE=1.

# shellcheck source=deploy/dev/recipes/nginx.sh
. "$REPO/deploy/dev/recipes/nginx.sh"

# Make DIR/tls: CA and leaf, EC P-256, valid for two days.
make_test_certificate() {
	local t=$1/tls
	rm -rf "$t"
	mkdir -m 700 "$t"
	(
		cd "$t" &&
			openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
				-keyout ca.key -out ca.crt -days 2 -subj "/CN=latch test CA" \
				-addext "basicConstraints=critical,CA:TRUE" \
				-addext "keyUsage=critical,keyCertSign,cRLSign" &&
			openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
				-keyout latch.key -out latch.csr -subj "/CN=127.0.0.1" &&
			printf '%s\n' "basicConstraints=CA:FALSE" \
				"keyUsage=critical,digitalSignature" \
				"extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1" \
				"subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" >leaf.ext &&
			openssl x509 -req -in latch.csr -CA ca.crt -CAkey ca.key \
				-set_serial "0x$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
				-days 2 -extfile leaf.ext -out latch.crt
	) >"$1/openssl.out" 2>&1 || {
		cat "$1/openssl.out" >&2
		die "could not make the test certificate"
	}
	rm -f "$t/ca.key" "$t/latch.csr" "$t/leaf.ext"
	chmod 644 "$t/ca.crt" "$t/latch.crt"
	chmod 600 "$t/latch.key"
	give -R "$t"
}

recipe_start() {
	make_test_certificate "$1"
	nginx_start "$1" "$2" site-tls.conf "443" https "$1/tls/ca.crt"
}
