/* test_dpop.c: DPoP proof checks (lib/dpop.c): RFC 9449's own example
 * proofs and key thumbprint, htu normalisation, and each claim's
 * refusals on proofs signed here with fresh keys. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "dpop.h"
#include "jws_fixture.h"

/* RFC 9449 section 4.1 figure 2 (again in section 5 figure 5): a proof
 * for POST https://server.example.com/token at iat 1562262616. */
static const char rfc9449_proof[] =
	"eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6Ik"
	"VDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCR"
	"nMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JE"
	"QSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIj"
	"oiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwia"
	"WF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg"
	"4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg";
#define RFC9449_IAT 1562262616
#define RFC9449_HTU "https://server.example.com/token"
/* Section 6.1 figure 9: the jkt of that proof's key. */
static const char rfc9449_jkt[] = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
/* Section 7.1 figure 13: the same key's proof of a GET with an ath. */
static const char rfc9449_get_proof[] =
	"eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6Ik"
	"VDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCR"
	"nMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JE"
	"QSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIj"
	"oiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0Z"
	"WRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNF"
	"c05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71E"
	"OptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA";

#define NOW 1795000000
#define HTU "https://id.example.com/auth/refresh"

static EVP_PKEY *keys[3];
static const enum jws_alg algs[3] = { JWS_ES256, JWS_RS256, JWS_EDDSA };

static int
setup_keys(void **state)
{
	(void)state;
	for (size_t i = 0; i < 3; i++)
		keys[i] = fx_keygen(algs[i], 2048);
	return 0;
}

static int
teardown_keys(void **state)
{
	(void)state;
	for (size_t i = 0; i < 3; i++)
		EVP_PKEY_free(keys[i]);
	return 0;
}

static int
check(const char *proof, const char *method, const char *htu, int64_t now,
    struct dpop_proof *out, int *detail)
{
	return dpop_verify(proof, strlen(proof), method, htu, now, out, detail);
}

/* A proof of the claims (JSON text) signed with key i, typ dpop+jwt. */
static const char *
proof_of(size_t i, const char *claims)
{
	static char header[FX_TEXT], tok[FX_TEXT];

	fx_header(keys[i], algs[i], "dpop+jwt", header);
	fx_jws(keys[i], algs[i], header, claims, tok);
	return tok;
}

static void
test_rfc9449_example_proof_verifies_with_its_jkt(void **state)
{
	struct dpop_proof p;
	int detail = -1;

	(void)state;
	assert_int_equal(check(rfc9449_proof, "POST", RFC9449_HTU, RFC9449_IAT,
	    &p, &detail), DPOP_OK);
	assert_int_equal(detail, JWK_OK);
	assert_int_equal(p.alg, JWS_ES256);
	assert_string_equal(p.jkt, rfc9449_jkt);
	assert_string_equal(p.jti, "-BwC3ESc6acc2lTc");
	assert_int_equal(p.iat, RFC9449_IAT);
	assert_string_equal(p.canonical, "{\"crv\":\"P-256\",\"kty\":\"EC\","
	    "\"x\":\"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs\","
	    "\"y\":\"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA\"}");
	/* The edges of the window. */
	assert_int_equal(check(rfc9449_proof, "POST", RFC9449_HTU,
	    RFC9449_IAT + DPOP_IAT_WINDOW, &p, NULL), DPOP_OK);
	assert_int_equal(check(rfc9449_proof, "POST", RFC9449_HTU,
	    RFC9449_IAT - DPOP_IAT_WINDOW, &p, NULL), DPOP_OK);
	assert_int_equal(check(rfc9449_proof, "POST", RFC9449_HTU,
	    RFC9449_IAT + DPOP_IAT_WINDOW + 1, &p, NULL), DPOP_EIAT);
	assert_int_equal(check(rfc9449_proof, "POST", RFC9449_HTU,
	    RFC9449_IAT - DPOP_IAT_WINDOW - 1, &p, NULL), DPOP_EIAT);
	assert_int_equal(p.jkt[0], '\0');       /* nothing on failure */
	/* Another method or URI. */
	assert_int_equal(check(rfc9449_proof, "GET", RFC9449_HTU, RFC9449_IAT,
	    &p, NULL), DPOP_EHTM);
	assert_int_equal(check(rfc9449_proof, "post", RFC9449_HTU, RFC9449_IAT,
	    &p, NULL), DPOP_EHTM);
	assert_int_equal(check(rfc9449_proof, "POST",
	    "https://server.example.com/auth", RFC9449_IAT, &p, NULL),
	    DPOP_EHTU);
	assert_int_equal(check(rfc9449_proof, "POST",
	    "http://server.example.com/token", RFC9449_IAT, &p, NULL),
	    DPOP_EHTU);
	/* The URI as the server may write it. */
	assert_int_equal(check(rfc9449_proof, "POST",
	    "https://SERVER.example.com:443/token", RFC9449_IAT, &p, NULL),
	    DPOP_OK);
}

static void
test_rfc9449_get_proof_with_ath_verifies(void **state)
{
	struct dpop_proof p;

	(void)state;
	assert_int_equal(check(rfc9449_get_proof, "GET",
	    "https://resource.example.org/protectedresource", 1562262618, &p,
	    NULL), DPOP_OK);
	assert_string_equal(p.jkt, rfc9449_jkt);
	assert_string_equal(p.jti, "e1j3V_bKic8-LAEB");
}

static void
test_rfc9449_proof_with_one_byte_changed_is_refused(void **state)
{
	char tok[sizeof rfc9449_proof];
	struct dpop_proof p;
	size_t n = strlen(rfc9449_proof);
	int detail;

	(void)state;
	memcpy(tok, rfc9449_proof, sizeof tok);
	for (size_t i = 0; i < n; i++) {
		if (tok[i] == '.')
			continue;
		tok[i] = tok[i] == 'A' ? 'B' : 'A';
		assert_int_not_equal(dpop_verify(tok, n, "POST", RFC9449_HTU,
		    RFC9449_IAT, &p, &detail), DPOP_OK);
		tok[i] = rfc9449_proof[i];
	}
}

static void
test_fresh_proofs_of_each_alg_verify(void **state)
{
	struct dpop_proof p;
	struct jwk back;
	int detail;

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		const char *tok = proof_of(i, "{\"jti\":\"a1\",\"htm\":\"POST\","
		    "\"htu\":\"" HTU "\",\"iat\":1795000000,\"nonce\":\"n\","
		    "\"ath\":\"x\"}");

		assert_int_equal(check(tok, "POST", HTU, NOW, &p, &detail),
		    DPOP_OK);
		assert_int_equal(p.alg, algs[i]);
		assert_string_equal(p.jti, "a1");
		assert_int_equal(jwk_parse_text(p.canonical, strlen(p.canonical),
		    &back), JWK_OK);
		assert_string_equal(back.jkt, p.jkt);
		assert_memory_equal(back.thumbprint, p.thumbprint,
		    JWK_THUMBPRINT_LEN);
		jwk_clear(&back);
	}
}

static void
test_htm_refusals(void **state)
{
	struct dpop_proof p;

	(void)state;
	assert_int_equal(check(proof_of(0, "{\"jti\":\"a\",\"htu\":\"" HTU
	    "\",\"iat\":1795000000}"), "POST", HTU, NOW, &p, NULL), DPOP_EHTM);
	assert_int_equal(check(proof_of(0, "{\"jti\":\"a\",\"htm\":1,"
	    "\"htu\":\"" HTU "\",\"iat\":1795000000}"), "POST", HTU, NOW, &p,
	    NULL), DPOP_EHTM);
	assert_int_equal(check(proof_of(0, "{\"jti\":\"a\",\"htm\":\"POST \","
	    "\"htu\":\"" HTU "\",\"iat\":1795000000}"), "POST", HTU, NOW, &p,
	    NULL), DPOP_EHTM);
	assert_int_equal(check(proof_of(0, "{\"jti\":\"a\",\"htm\":\"POS\","
	    "\"htu\":\"" HTU "\",\"iat\":1795000000}"), "POST", HTU, NOW, &p,
	    NULL), DPOP_EHTM);
}

static void
test_htu_refusals(void **state)
{
	static char claims[FX_TEXT], longhtu[DPOP_HTU_MAX + 2];
	struct dpop_proof p;

	(void)state;
	assert_int_equal(check(proof_of(1, "{\"jti\":\"a\",\"htm\":\"POST\","
	    "\"iat\":1795000000}"), "POST", HTU, NOW, &p, NULL), DPOP_EHTU);
	assert_int_equal(check(proof_of(1, "{\"jti\":\"a\",\"htm\":\"POST\","
	    "\"htu\":[],\"iat\":1795000000}"), "POST", HTU, NOW, &p, NULL),
	    DPOP_EHTU);
	assert_int_equal(check(proof_of(1, "{\"jti\":\"a\",\"htm\":\"POST\","
	    "\"htu\":\"/auth/refresh\",\"iat\":1795000000}"), "POST", HTU,
	    NOW, &p, NULL), DPOP_EHTU);
	assert_int_equal(check(proof_of(1, "{\"jti\":\"a\",\"htm\":\"POST\","
	    "\"htu\":\"" HTU "\\u0000\",\"iat\":1795000000}"), "POST", HTU,
	    NOW, &p, NULL), DPOP_EHTU);
	/* Query and fragment ignored: accepted. */
	assert_int_equal(check(proof_of(1, "{\"jti\":\"a\",\"htm\":\"POST\","
	    "\"htu\":\"" HTU "?x=1#f\",\"iat\":1795000000}"), "POST", HTU,
	    NOW, &p, NULL), DPOP_OK);
	/* Over DPOP_HTU_MAX: the URI of this request padded by its query. */
	memset(longhtu, 'q', sizeof longhtu - 1);
	memcpy(longhtu, HTU "?", strlen(HTU) + 1);
	longhtu[DPOP_HTU_MAX] = '\0';
	fx_fmt(claims, "{\"jti\":\"a\",\"htm\":\"POST\",\"htu\":\"%s\","
	    "\"iat\":1795000000}", longhtu);
	assert_int_equal(check(proof_of(1, claims), "POST", HTU, NOW, &p,
	    NULL), DPOP_OK);
	longhtu[DPOP_HTU_MAX] = 'q';
	longhtu[DPOP_HTU_MAX + 1] = '\0';
	fx_fmt(claims, "{\"jti\":\"a\",\"htm\":\"POST\",\"htu\":\"%s\","
	    "\"iat\":1795000000}", longhtu);
	assert_int_equal(check(proof_of(1, claims), "POST", HTU, NOW, &p,
	    NULL), DPOP_EHTU);
}

static void
test_iat_refusals(void **state)
{
	static const char *const bad[] = {
		"", ",\"iat\":\"1795000000\"", ",\"iat\":1795000000.0",
		",\"iat\":1.795e9", ",\"iat\":null", ",\"iat\":true",
		",\"iat\":1794999939", ",\"iat\":1795000061",
		",\"iat\":-9223372036854775808", ",\"iat\":9223372036854775807",
		",\"iat\":0",
	};
	static char claims[FX_TEXT];
	struct dpop_proof p;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		fx_fmt(claims, "{\"jti\":\"a\",\"htm\":\"POST\",\"htu\":\"" HTU
		    "\"%s}", bad[i]);
		assert_int_equal(check(proof_of(2, claims), "POST", HTU, NOW,
		    &p, NULL), DPOP_EIAT);
	}
	/* now at the extremes of int64_t: no overflow either way. */
	fx_fmt(claims, "{\"jti\":\"a\",\"htm\":\"POST\",\"htu\":\"" HTU
	    "\",\"iat\":-9223372036854775808}");
	assert_int_equal(check(proof_of(2, claims), "POST", HTU, INT64_MAX, &p,
	    NULL), DPOP_EIAT);
	assert_int_equal(check(proof_of(2, claims), "POST", HTU, INT64_MIN, &p,
	    NULL), DPOP_OK);
	fx_fmt(claims, "{\"jti\":\"a\",\"htm\":\"POST\",\"htu\":\"" HTU
	    "\",\"iat\":1794999940}");
	assert_int_equal(check(proof_of(2, claims), "POST", HTU, NOW, &p,
	    NULL), DPOP_OK);
	assert_int_equal(p.iat, 1794999940);
}

static void
test_jti_bounds(void **state)
{
	static char claims[FX_TEXT], jti[DPOP_JTI_MAX + 2];
	struct dpop_proof p;

	(void)state;
	memset(jti, 'j', sizeof jti - 1);
	jti[DPOP_JTI_MAX] = '\0';
	fx_fmt(claims, "{\"jti\":\"%s\",\"htm\":\"POST\",\"htu\":\"" HTU
	    "\",\"iat\":1795000000}", jti);
	assert_int_equal(check(proof_of(0, claims), "POST", HTU, NOW, &p,
	    NULL), DPOP_OK);
	assert_string_equal(p.jti, jti);
	jti[DPOP_JTI_MAX] = 'j';
	jti[DPOP_JTI_MAX + 1] = '\0';
	fx_fmt(claims, "{\"jti\":\"%s\",\"htm\":\"POST\",\"htu\":\"" HTU
	    "\",\"iat\":1795000000}", jti);
	assert_int_equal(check(proof_of(0, claims), "POST", HTU, NOW, &p,
	    NULL), DPOP_EJTI);
	assert_int_equal(check(proof_of(0, "{\"jti\":\"\",\"htm\":\"POST\","
	    "\"htu\":\"" HTU "\",\"iat\":1795000000}"), "POST", HTU, NOW, &p,
	    NULL), DPOP_EJTI);
	assert_int_equal(check(proof_of(0, "{\"htm\":\"POST\","
	    "\"htu\":\"" HTU "\",\"iat\":1795000000}"), "POST", HTU, NOW, &p,
	    NULL), DPOP_EJTI);
	assert_int_equal(check(proof_of(0, "{\"jti\":5,\"htm\":\"POST\","
	    "\"htu\":\"" HTU "\",\"iat\":1795000000}"), "POST", HTU, NOW, &p,
	    NULL), DPOP_EJTI);
	assert_int_equal(check(proof_of(0, "{\"jti\":\"a\\u0000b\","
	    "\"htm\":\"POST\",\"htu\":\"" HTU "\",\"iat\":1795000000}"),
	    "POST", HTU, NOW, &p, NULL), DPOP_EJTI);
}

static void
test_proof_errors_carry_the_jwk_detail(void **state)
{
	static char header[FX_TEXT], tok[FX_TEXT], jwk[FX_TEXT];
	static const char claims[] = "{\"jti\":\"a\",\"htm\":\"POST\","
	    "\"htu\":\"" HTU "\",\"iat\":1795000000}";
	struct dpop_proof p;
	int detail;

	(void)state;
	fx_header(keys[0], JWS_ES256, "JWT", header);
	fx_jws(keys[0], JWS_ES256, header, claims, tok);
	assert_int_equal(check(tok, "POST", HTU, NOW, &p, &detail),
	    DPOP_EPROOF);
	assert_int_equal(detail, JWK_ETYP);
	fx_jwk_json(keys[0], JWS_ES256, "", jwk);
	fx_fmt(header, "{\"typ\":\"dpop+jwt\",\"alg\":\"none\",\"jwk\":%s}",
	    jwk);
	fx_signing_input(header, claims, tok);
	strcat(tok, ".");
	assert_int_equal(check(tok, "POST", HTU, NOW, &p, &detail),
	    DPOP_EPROOF);
	assert_int_equal(detail, JWK_EALG);
	/* No jwk: a DPoP proof must carry its key. */
	fx_jws(keys[0], JWS_ES256, "{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\"}",
	    claims, tok);
	assert_int_equal(check(tok, "POST", HTU, NOW, &p, &detail),
	    DPOP_EPROOF);
	assert_int_equal(detail, JWK_EKEY);
	/* Two proofs in one header value, white space around one. */
	fx_header(keys[0], JWS_ES256, "dpop+jwt", header);
	fx_jws(keys[0], JWS_ES256, header, claims, tok);
	assert_int_equal(check(tok, "POST", HTU, NOW, &p, NULL), DPOP_OK);
	{
		static char two[2 * FX_TEXT + 2];

		fx_fmt(two, "%s,%s", tok, tok);
		assert_int_equal(check(two, "POST", HTU, NOW, &p, &detail),
		    DPOP_EPROOF);
		assert_int_equal(detail, JWK_EMALFORMED);
		fx_fmt(two, " %s", tok);
		assert_int_equal(check(two, "POST", HTU, NOW, &p, &detail),
		    DPOP_EPROOF);
	}
	assert_int_equal(dpop_verify("", 0, "POST", HTU, NOW, &p, &detail),
	    DPOP_EPROOF);
	assert_int_equal(detail, JWK_EMALFORMED);
}

static void
test_htu_normalisation(void **state)
{
	static const struct {
		const char *proof, *expected;
		int match;
	} cases[] = {
		{ "https://id.example.com/auth/refresh", HTU, 1 },
		{ "HTTPS://ID.Example.COM/auth/refresh", HTU, 1 },
		{ "https://id.example.com:443/auth/refresh", HTU, 1 },
		{ "https://id.example.com:0443/auth/refresh", HTU, 1 },
		{ "https://id.example.com:/auth/refresh", HTU, 1 },
		{ "https://id.example.com/auth/refresh?a=b", HTU, 1 },
		{ "https://id.example.com/auth/refresh#frag", HTU, 1 },
		{ "https://id.example.com/auth/%72efresh", HTU, 1 },
		{ "https://id.example.com/auth/Refresh", HTU, 0 },
		{ "https://id.example.com/auth/refresh/", HTU, 0 },
		{ "https://id.example.com:8443/auth/refresh", HTU, 0 },
		{ "http://id.example.com/auth/refresh", HTU, 0 },
		{ "https://id.example.org/auth/refresh", HTU, 0 },
		{ "https://user@id.example.com/auth/refresh", HTU, 0 },
		{ "ftp://id.example.com/auth/refresh", HTU, 0 },
		{ "//id.example.com/auth/refresh", HTU, 0 },
		{ "/auth/refresh", HTU, 0 },
		{ "https:/id.example.com/auth/refresh", HTU, 0 },
		{ "https://:443/auth/refresh", HTU, 0 },
		{ "https://id.example.com:65536/auth/refresh", HTU, 0 },
		{ "https://id.example.com:4x3/auth/refresh", HTU, 0 },
		{ "https://id.example.com/auth/re fresh", HTU, 0 },
		{ "https://id.example.com/auth/%zzrefresh", HTU, 0 },
		{ "https://id.example.com/auth/refresh%2", HTU, 0 },
		{ "https://id%2eexample.com/auth/refresh", HTU, 0 },
		{ "", HTU, 0 },
		{ "http://h.example", "http://h.example/", 1 },
		{ "http://h.example:80", "http://H.EXAMPLE/", 1 },
		{ "http://h.example:8080/a", "http://h.example:8080/a", 1 },
		{ "http://h.example:8080/a", "http://h.example/a", 0 },
		{ "http://h.example/a%2fb", "http://h.example/a%2Fb", 1 },
		{ "http://h.example/a%2Fb", "http://h.example/a/b", 0 },
		{ "http://h.example/%7Euser", "http://h.example/~user", 1 },
		{ "http://[::1]:8080/a", "http://[::1]:8080/a", 1 },
		{ "http://[::1]/a", "http://[::1]:80/a", 1 },
		{ "http://[::1/a", "http://[::1]/a", 0 },
		{ "http://127.0.0.1:28080/auth/login",
		    "http://127.0.0.1:28080/auth/login", 1 },
		{ "https://id.example.com/auth/refresh", "not a uri", 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int got = dpop_htu_matches(cases[i].proof,
		    strlen(cases[i].proof), cases[i].expected);

		if (got != cases[i].match)
			fail_msg("htu %s vs %s: %d", cases[i].proof,
			    cases[i].expected, got);
	}
	/* A NUL inside the proof's htu, and the length honoured. */
	assert_int_equal(dpop_htu_matches("http://h.example/a\0b", 20,
	    "http://h.example/a"), 0);
	assert_int_equal(dpop_htu_matches("http://h.example/abc", 18,
	    "http://h.example/a"), 1);
	assert_int_equal(dpop_htu_matches(NULL, 0, HTU), 0);
	assert_int_equal(dpop_htu_matches(HTU, strlen(HTU), NULL), 0);
}

static void
test_messages(void **state)
{
	static const int errs[] = {
		DPOP_OK, DPOP_EHTM, DPOP_EHTU, DPOP_EIAT, DPOP_EJTI,
		DPOP_ENOMEM,
	};

	(void)state;
	for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
		assert_non_null(dpop_strerror(errs[i], 0));
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(dpop_strerror(errs[i], 0),
			    dpop_strerror(errs[j], 0));
	}
	assert_string_equal(dpop_strerror(DPOP_EPROOF, JWK_ESIGNATURE),
	    jwk_strerror(JWK_ESIGNATURE));
	assert_non_null(dpop_strerror(-42, 0));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_rfc9449_example_proof_verifies_with_its_jkt),
		cmocka_unit_test(test_rfc9449_get_proof_with_ath_verifies),
		cmocka_unit_test(
		    test_rfc9449_proof_with_one_byte_changed_is_refused),
		cmocka_unit_test(test_fresh_proofs_of_each_alg_verify),
		cmocka_unit_test(test_htm_refusals),
		cmocka_unit_test(test_htu_refusals),
		cmocka_unit_test(test_iat_refusals),
		cmocka_unit_test(test_jti_bounds),
		cmocka_unit_test(test_proof_errors_carry_the_jwk_detail),
		cmocka_unit_test(test_htu_normalisation),
		cmocka_unit_test(test_messages),
	};

	return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
