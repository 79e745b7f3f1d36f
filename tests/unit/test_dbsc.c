/* test_dbsc.c: lib/dbsc: stateless challenges (made for one session,
 * expiring, surviving a key rotation, refused when any byte changes), the
 * proofs a browser signs, the headers and the session instructions. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "config_fixture.h"
#include "dbsc.h"
#include "jws_fixture.h"

#define SID "5f0c1a3e-8a4b-4c2d-9e6f-0a1b2c3d4e5f"
#define OTHER_SID "5f0c1a3e-8a4b-4c2d-9e6f-0a1b2c3d4e60"
#define NOW 1796000000LL

static const char *const keys_old =
    "JWT_REFRESH_SECRET=r1:refresh-secret-one-refresh-secret-one";
static const char *const keys_rotated =
    "JWT_REFRESH_SECRET=r2:refresh-secret-two-refresh-secret-two, "
    "r1:refresh-secret-one-refresh-secret-one";
static const char *const keys_new =
    "JWT_REFRESH_SECRET=r2:refresh-secret-two-refresh-secret-two";

static void
make_for(enum dbsc_purpose purpose, const char *keys, const char *sid,
    char out[DBSC_CHALLENGE_MAX + 1])
{
	struct latch_config cfg;

	config_fixture_load(&cfg, keys);
	assert_int_equal(dbsc_challenge_make(&cfg, purpose, sid, NOW, out), 0);
	config_free(&cfg);
}

static int
check_for(enum dbsc_purpose purpose, const char *keys, const char *sid,
    const char *c, size_t n, int64_t now, struct dbsc_challenge *out)
{
	struct latch_config cfg;
	int rc;

	config_fixture_load(&cfg, keys);
	rc = dbsc_challenge_check(&cfg, purpose, sid, c, n, now, out);
	config_free(&cfg);
	return rc;
}

/* Refresh challenges, the kind most of the tests below handle. */
static void
make(const char *keys, const char *sid, char out[DBSC_CHALLENGE_MAX + 1])
{
	make_for(DBSC_FOR_REFRESH, keys, sid, out);
}

static int
check(const char *keys, const char *sid, const char *c, size_t n,
    int64_t now, struct dbsc_challenge *out)
{
	return check_for(DBSC_FOR_REFRESH, keys, sid, c, n, now, out);
}

/* The refresh route hands a challenge to anyone naming a session: it must
 * never register a key, and a login's registration challenge is no
 * refresh challenge either. */
static void
test_challenge_is_for_one_purpose(void **state)
{
	char c[DBSC_CHALLENGE_MAX + 1];
	struct dbsc_challenge ch;

	(void)state;
	make_for(DBSC_FOR_REFRESH, keys_old, SID, c);
	assert_int_equal(check_for(DBSC_FOR_REGISTRATION, keys_old, SID, c,
	    strlen(c), NOW, &ch), -1);
	make_for(DBSC_FOR_REGISTRATION, keys_old, SID, c);
	assert_int_equal(check_for(DBSC_FOR_REGISTRATION, keys_old, SID, c,
	    strlen(c), NOW, &ch), 0);
	assert_int_equal(check_for(DBSC_FOR_REFRESH, keys_old, SID, c,
	    strlen(c), NOW, &ch), -1);
}

static void
test_challenge_round_trip(void **state)
{
	char c[DBSC_CHALLENGE_MAX + 1], d[DBSC_CHALLENGE_MAX + 1];
	struct dbsc_challenge ch, ch2;

	(void)state;
	make(keys_old, SID, c);
	/* What an RFC 8941 string may hold, without escapes. */
	for (const char *p = c; *p != '\0'; p++)
		assert_true(*p > 0x20 && *p < 0x7f && *p != '"' && *p != '\\');
	assert_int_equal(check(keys_old, SID, c, strlen(c), NOW, &ch), 0);
	/* The default lifetime (10 minutes) and the slack. */
	assert_int_equal(ch.expires_at, NOW + 600 + DBSC_CHALLENGE_SLACK);
	assert_int_equal(strlen(ch.hash_hex), 64);
	/* Each challenge is new, and so is its single-use id. */
	make(keys_old, SID, d);
	assert_string_not_equal(c, d);
	assert_int_equal(check(keys_old, SID, d, strlen(d), NOW, &ch2), 0);
	assert_string_not_equal(ch.hash_hex, ch2.hash_hex);
}

static void
test_challenge_is_for_one_session_and_expires(void **state)
{
	char c[DBSC_CHALLENGE_MAX + 1];
	struct dbsc_challenge ch;

	(void)state;
	make(keys_old, SID, c);
	assert_int_equal(check(keys_old, OTHER_SID, c, strlen(c), NOW, &ch),
	    -1);
	assert_int_equal(check(keys_old, SID, c, strlen(c),
	    NOW + 600 + DBSC_CHALLENGE_SLACK - 1, &ch), 0);
	assert_int_equal(check(keys_old, SID, c, strlen(c),
	    NOW + 600 + DBSC_CHALLENGE_SLACK, &ch), -1);
	assert_int_equal(check(keys_old, "not-a-session", c, strlen(c), NOW,
	    &ch), -1);
}

/* A login's registration challenge is answered at once: it lives the
 * slack alone, not a cookie lifetime more. */
static void
test_registration_challenge_is_short_lived(void **state)
{
	char c[DBSC_CHALLENGE_MAX + 1];
	struct dbsc_challenge ch;

	(void)state;
	make_for(DBSC_FOR_REGISTRATION, keys_old, SID, c);
	assert_int_equal(check_for(DBSC_FOR_REGISTRATION, keys_old, SID, c,
	    strlen(c), NOW, &ch), 0);
	assert_int_equal(ch.expires_at, NOW + DBSC_CHALLENGE_SLACK);
	assert_int_equal(check_for(DBSC_FOR_REGISTRATION, keys_old, SID, c,
	    strlen(c), NOW + DBSC_CHALLENGE_SLACK - 1, &ch), 0);
	assert_int_equal(check_for(DBSC_FOR_REGISTRATION, keys_old, SID, c,
	    strlen(c), NOW + DBSC_CHALLENGE_SLACK, &ch), -1);
}

static void
test_challenge_survives_key_rotation(void **state)
{
	char c[DBSC_CHALLENGE_MAX + 1];
	struct dbsc_challenge ch;

	(void)state;
	make(keys_old, SID, c);
	assert_int_equal(check(keys_rotated, SID, c, strlen(c), NOW, &ch), 0);
	/* Once the old key is gone, so are its challenges. */
	assert_int_equal(check(keys_new, SID, c, strlen(c), NOW, &ch), -1);
	/* Made under the new signing key of the rotated list. */
	make(keys_rotated, SID, c);
	assert_int_equal(check(keys_new, SID, c, strlen(c), NOW, &ch), 0);
	assert_int_equal(check(keys_old, SID, c, strlen(c), NOW, &ch), -1);
}

static void
test_challenge_any_byte_changed_is_refused(void **state)
{
	char c[DBSC_CHALLENGE_MAX + 1], t[DBSC_CHALLENGE_MAX + 1];
	struct dbsc_challenge ch;
	size_t n;

	(void)state;
	make(keys_old, SID, c);
	n = strlen(c);
	for (size_t i = 0; i < n; i++) {
		memcpy(t, c, n + 1);
		t[i] = t[i] == 'A' ? 'B' : 'A';
		assert_int_equal(check(keys_old, SID, t, n, NOW, &ch), -1);
	}
	/* Cut short anywhere, or with something after it. */
	for (size_t i = 0; i < n; i++)
		assert_int_equal(check(keys_old, SID, c, i, NOW, &ch), -1);
	memcpy(t, c, n);
	t[n] = 'A';
	t[n + 1] = '\0';
	assert_int_equal(check(keys_old, SID, t, n + 1, NOW, &ch), -1);
}

static void
test_challenge_garbage_is_refused(void **state)
{
	static const char *const bad[] = {
		"", ".", "..", "1.2.3", "abc.def.ghi",
		"99999999999999999999.AAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"-1.AAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"1796000900..AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"1796000900.AAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"1796000900.AAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.x",
	};
	char big[DBSC_CHALLENGE_MAX + 2];
	struct dbsc_challenge ch;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(check(keys_old, SID, bad[i], strlen(bad[i]),
		    NOW, &ch), -1);
	memset(big, '1', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_int_equal(check(keys_old, SID, big, strlen(big), NOW, &ch), -1);
}

/* A DBSC proof of payload under k, with the key in the header when
 * with_jwk. */
static void
proof(EVP_PKEY *k, enum jws_alg alg, int with_jwk, const char *typ,
    const char *payload, char *out)
{
	static char header[FX_TEXT];

	if (with_jwk)
		fx_header(k, alg, typ, header);
	else
		fx_fmt(header, "{\"alg\":\"%s\",\"typ\":\"%s\"}",
		    jws_alg_name(alg), typ);
	fx_jws(k, alg, header, payload, out);
}

static void
test_registration_and_refresh_proofs(void **state)
{
	static char jws[FX_TEXT], quoted[FX_TEXT];
	EVP_PKEY *k = fx_keygen(JWS_ES256, 0), *other = fx_keygen(JWS_ES256, 0);
	struct dbsc_proof p, q;
	struct jwk stored;

	(void)state;
	proof(k, JWS_ES256, 1, "dbsc+jwt", "{\"jti\":\"c1\"}", jws);
	assert_int_equal(dbsc_verify_proof(jws, strlen(jws), NULL, &p), JWK_OK);
	assert_int_equal(p.challenge_len, 2);
	assert_memory_equal(p.challenge, "c1", 2);
	assert_int_equal(p.jws.alg, JWS_ES256);
	/* The stored key verifies the next proof, which carries none. */
	assert_int_equal(jwk_parse_text(p.jws.key.canonical,
	    p.jws.key.canonical_len, &stored), JWK_OK);
	proof(k, JWS_ES256, 0, "dbsc+jwt", "{\"jti\":\"c2\"}", jws);
	assert_int_equal(dbsc_verify_proof(jws, strlen(jws), &stored, &q),
	    JWK_OK);
	assert_memory_equal(q.challenge, "c2", 2);
	dbsc_proof_clear(&q);
	/* The same as an RFC 8941 string. */
	fx_fmt(quoted, "\"%s\"", jws);
	assert_int_equal(dbsc_verify_proof(quoted, strlen(quoted), &stored, &q),
	    JWK_OK);
	dbsc_proof_clear(&q);
	/* Signed by another key. */
	proof(other, JWS_ES256, 0, "dbsc+jwt", "{\"jti\":\"c2\"}", jws);
	assert_int_equal(dbsc_verify_proof(jws, strlen(jws), &stored, &q),
	    JWK_ESIGNATURE);
	/* A registration needs the key in the header. */
	assert_int_equal(dbsc_verify_proof(jws, strlen(jws), NULL, &q),
	    JWK_EKEY);
	/* Another typ: a DPoP proof is no DBSC proof. */
	proof(k, JWS_ES256, 1, "dpop+jwt", "{\"jti\":\"c1\"}", jws);
	assert_int_equal(dbsc_verify_proof(jws, strlen(jws), NULL, &q),
	    JWK_ETYP);
	/* EdDSA is not offered to browsers. */
	EVP_PKEY_free(other);
	other = fx_keygen(JWS_EDDSA, 0);
	proof(other, JWS_EDDSA, 1, "dbsc+jwt", "{\"jti\":\"c1\"}", jws);
	assert_int_equal(dbsc_verify_proof(jws, strlen(jws), NULL, &q),
	    JWK_EALG);
	jwk_clear(&stored);
	dbsc_proof_clear(&p);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
}

static void
test_proof_jti_is_checked(void **state)
{
	static const char *const payloads[] = {
		"{}", "{\"jti\":1}", "{\"jti\":\"\"}", "{\"jti\":null}",
		"{\"jti\":[\"c\"]}",
	};
	static char jws[FX_TEXT], payload[FX_TEXT];
	char longjti[DBSC_CHALLENGE_MAX + 2];
	EVP_PKEY *k = fx_keygen(JWS_RS256, 2048);
	struct dbsc_proof p;

	(void)state;
	for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
		proof(k, JWS_RS256, 1, "dbsc+jwt", payloads[i], jws);
		assert_int_equal(dbsc_verify_proof(jws, strlen(jws), NULL, &p),
		    JWK_EMALFORMED);
	}
	memset(longjti, 'c', sizeof longjti - 1);
	longjti[sizeof longjti - 1] = '\0';
	fx_fmt(payload, "{\"jti\":\"%s\"}", longjti);
	proof(k, JWS_RS256, 1, "dbsc+jwt", payload, jws);
	assert_int_equal(dbsc_verify_proof(jws, strlen(jws), NULL, &p),
	    JWK_EMALFORMED);
	/* RS256 is offered, and at the limit a jti is fine. */
	longjti[DBSC_CHALLENGE_MAX] = '\0';
	fx_fmt(payload, "{\"jti\":\"%s\"}", longjti);
	proof(k, JWS_RS256, 1, "dbsc+jwt", payload, jws);
	assert_int_equal(dbsc_verify_proof(jws, strlen(jws), NULL, &p), JWK_OK);
	dbsc_proof_clear(&p);
	/* Garbage. */
	assert_int_not_equal(dbsc_verify_proof("\"", 1, NULL, &p), JWK_OK);
	assert_int_not_equal(dbsc_verify_proof("\"\"", 2, NULL, &p), JWK_OK);
	assert_int_not_equal(dbsc_verify_proof("a.b.c", 5, NULL, &p), JWK_OK);
	EVP_PKEY_free(k);
}

static void
test_instructions(void **state)
{
	json_object *o = dbsc_instructions(SID, "https://auth.example:8443",
	    "auth.example", "__Secure-refresh_token",
	    "Path=/auth; HttpOnly; Secure; SameSite=Strict");
	const char *text;

	(void)state;
	assert_non_null(o);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	/* The exclusion of "/" first: Chromium reads the rules last first. */
	assert_string_equal(text,
	    "{\"session_identifier\":\"" SID "\","
	    "\"refresh_url\":\"/auth/dbsc/refresh\","
	    "\"scope\":{\"origin\":\"https://auth.example:8443\","
	    "\"include_site\":false,\"scope_specification\":["
	    "{\"type\":\"exclude\",\"domain\":\"auth.example\",\"path\":\"/\"},"
	    "{\"type\":\"include\",\"domain\":\"auth.example\","
	    "\"path\":\"/auth/\"}]},"
	    "\"credentials\":[{\"type\":\"cookie\","
	    "\"name\":\"__Secure-refresh_token\","
	    "\"attributes\":\"Path=/auth; HttpOnly; Secure; SameSite=Strict\"}]}");
	json_object_put(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_challenge_round_trip),
		cmocka_unit_test(test_challenge_is_for_one_session_and_expires),
		cmocka_unit_test(test_registration_challenge_is_short_lived),
		cmocka_unit_test(test_challenge_is_for_one_purpose),
		cmocka_unit_test(test_challenge_survives_key_rotation),
		cmocka_unit_test(test_challenge_any_byte_changed_is_refused),
		cmocka_unit_test(test_challenge_garbage_is_refused),
		cmocka_unit_test(test_registration_and_refresh_proofs),
		cmocka_unit_test(test_proof_jti_is_checked),
		cmocka_unit_test(test_instructions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
