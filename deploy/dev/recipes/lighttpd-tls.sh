# shellcheck shell=bash
# deploy/dev/recipes/lighttpd-tls.sh: recipe lighttpd-tls (stack.sh
# recipe-up). latch over https on 127.0.0.1:PORT from the shipped
# deploy/lighttpd/latch-fastcgi.conf and latch-tls.conf (lighttpd spawns
# the responders), with COOKIE_SECURE=1 and a certificate for 127.0.0.1
# signed by a CA made for this start (DIR/tls/ca.pem: what a client
# trusts; the CA's key is deleted once it has signed). 127.0.0.1:PORT+1
# (recipe_port "lighttpd-tls-http") is a plain-http socket, which
# latch-tls.conf makes redirect to https.

recipe_start() {
	local dir=$1 port=$2 http_port=$(($2 + 1)) p
	for p in "$port" "$http_port"; do
		port_busy "$p" && die "port $p on 127.0.0.1 is already in use"
	done
	# https or nothing: the Secure cookie, whatever the overrides said.
	sed 's/^COOKIE_SECURE=.*/COOKIE_SECURE=1/' "$dir/latch.conf" |
		put_file "$dir/latch.conf" 600
	grep -qx 'COOKIE_SECURE=1' "$dir/latch.conf" ||
		printf 'COOKIE_SECURE=1\n' >>"$dir/latch.conf"
	make_test_certificate "$dir/tls"
	put_lighttpd_file "$dir" latch-fastcgi.conf
	put_lighttpd_file "$dir" latch-tls.conf
	{
		dev_lighttpd_head "$dir" "$port"
		cat <<-EOC
			var.latch_https_socket = "127.0.0.1:$port"
			\$SERVER["socket"] == "127.0.0.1:$http_port" { }
			var.latch_public_url   = "https://127.0.0.1:$port"
			var.latch_tls_cert     = "$dir/tls/leaf.pem"
			var.latch_tls_key      = "$dir/tls/leaf.key"
			include "$dir/latch-fastcgi.conf"
			include "$dir/latch-tls.conf"
		EOC
	} | put_file "$dir/lighttpd.conf" 600
	lighttpd_run "$dir" "https://127.0.0.1:$port" --cacert "$dir/tls/ca.pem"
	printf 'BASE_URL=https://127.0.0.1:%s\n' "$port"
}

recipe_stop() { web_stop "$1"; }

# A throwaway CA (ca.pem) and a leaf for IP 127.0.0.1 it signed (leaf.pem,
# leaf.key, the key readable by the service user only) in directory $1,
# made anew: P-256 keys, valid for two days.
make_test_certificate() {
	local t=$1 ext
	rm -rf "$t"
	mkdir -m 700 "$t"
	ext=$(mktemp)
	printf '%s\n' 'subjectAltName = IP:127.0.0.1' \
		'basicConstraints = critical, CA:FALSE' \
		'keyUsage = critical, digitalSignature' \
		'extendedKeyUsage = serverAuth' \
		'subjectKeyIdentifier = hash' \
		'authorityKeyIdentifier = keyid' >"$ext"
	if ! {
		openssl req -x509 -new -noenc -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
			-keyout "$t/ca.key" -out "$t/ca.pem" -days 2 \
			-subj '/CN=latch throwaway test CA' \
			-addext 'basicConstraints = critical, CA:TRUE' \
			-addext 'keyUsage = critical, keyCertSign, cRLSign' &&
			openssl req -new -noenc -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
				-keyout "$t/leaf.key" -out "$t/leaf.csr" -subj '/CN=127.0.0.1' &&
			openssl x509 -req -in "$t/leaf.csr" -CA "$t/ca.pem" -CAkey "$t/ca.key" \
				-set_serial "0x$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
				-days 2 -extfile "$ext" -out "$t/leaf.pem"
	} >"$t/openssl.log" 2>&1; then
		rm -f "$ext"
		cat "$t/openssl.log" >&2
		die "openssl could not make the test certificate"
	fi
	rm -f "$ext" "$t/ca.key" "$t/leaf.csr"
	chmod 600 "$t/leaf.key"
	chmod 644 "$t/ca.pem" "$t/leaf.pem"
	give -R "$t"
}
