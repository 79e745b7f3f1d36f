/* test_dbhosts.c: lib/dbhosts, which connection strings lib/db.c takes
 * over host by host, and the connection each host then gets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "dbhosts.h"

static const char *const dkeys[] = { "connect_timeout", "keepalives",
    "application_name", NULL };
static const char *const dvalues[] = { "3", "1", "api", NULL };

/* The value of key among keys/values, NULL when absent; fails when it is
 * there twice. */
static const char *
value_of(const char **keys, const char **values, const char *key)
{
	const char *found = NULL;

	for (size_t i = 0; keys[i] != NULL; i++)
		if (strcmp(keys[i], key) == 0) {
			if (found != NULL)
				fail_msg("%s given twice", key);
			found = values[i];
		}
	return found;
}

static void
test_left_to_libpq(void **state)
{
	static const char *const strings[] = {
		"",
		"postgresql://latch@db/latch",
		"postgresql://latch@a:6432,b:6433/latch",
		"postgresql://latch@a,b/latch?target_session_attrs=any",
		"postgresql://latch@a,b/latch?target_session_attrs=prefer-standby",
	};
	struct dbhosts *h;

	(void)state;
	for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
		h = (struct dbhosts *)1;
		assert_int_equal(dbhosts_parse(strings[i], &h), 0);
		if (h != NULL)
			fail_msg("took over \"%s\"", strings[i]);
	}
}

static void
test_each_host_alone(void **state)
{
	const char *keys[64], *values[64];
	struct dbhosts *h = NULL;

	(void)state;
	assert_int_equal(dbhosts_parse("postgresql://latch:pw@a:6432,b:6433/"
	    "latch?target_session_attrs=read-write&connect_timeout=5", &h), 0);
	assert_non_null(h);
	assert_int_equal(dbhosts_count(h), 2);
	assert_int_equal(dbhosts_params(h, 1, dkeys, dvalues, keys, values, 64),
	    0);
	assert_string_equal(value_of(keys, values, "host"), "b");
	assert_string_equal(value_of(keys, values, "port"), "6433");
	assert_string_equal(value_of(keys, values, "target_session_attrs"),
	    "any");
	assert_string_equal(value_of(keys, values, "dbname"), "latch");
	assert_string_equal(value_of(keys, values, "user"), "latch");
	assert_string_equal(value_of(keys, values, "password"), "pw");
	/* The string's own value wins over the default, given once. */
	assert_string_equal(value_of(keys, values, "connect_timeout"), "5");
	assert_string_equal(value_of(keys, values, "keepalives"), "1");
	assert_string_equal(value_of(keys, values, "application_name"), "api");
	assert_null(value_of(keys, values, "hostaddr"));
	assert_int_equal(dbhosts_params(h, 0, dkeys, dvalues, keys, values, 64),
	    0);
	assert_string_equal(value_of(keys, values, "host"), "a");
	assert_string_equal(value_of(keys, values, "port"), "6432");
	dbhosts_free(h);
}

static void
test_keyword_strings_and_one_port(void **state)
{
	const char *keys[64], *values[64];
	struct dbhosts *h = NULL;

	(void)state;
	assert_int_equal(dbhosts_parse("host=/run/a,/run/b port=5432 "
	    "dbname=latch target_session_attrs=primary application_name=x",
	    &h), 0);
	assert_non_null(h);
	assert_int_equal(dbhosts_count(h), 2);
	assert_int_equal(dbhosts_params(h, 1, dkeys, dvalues, keys, values, 64),
	    0);
	assert_string_equal(value_of(keys, values, "host"), "/run/b");
	assert_string_equal(value_of(keys, values, "port"), "5432");
	assert_string_equal(value_of(keys, values, "application_name"), "x");
	dbhosts_free(h);
	assert_int_equal(dbhosts_parse("hostaddr=10.0.0.1,10.0.0.2 "
	    "dbname=latch target_session_attrs=read-write", &h), 0);
	assert_non_null(h);
	assert_int_equal(dbhosts_params(h, 1, dkeys, dvalues, keys, values, 64),
	    0);
	assert_string_equal(value_of(keys, values, "hostaddr"), "10.0.0.2");
	assert_null(value_of(keys, values, "host"));
	assert_null(value_of(keys, values, "port"));
	dbhosts_free(h);
}

/* One host, or libpq's default: asked the same way (a pooler's report
 * is no better for being alone). */
static void
test_one_host_too(void **state)
{
	const char *keys[64], *values[64];
	struct dbhosts *h = NULL;

	(void)state;
	assert_int_equal(dbhosts_parse("postgresql://latch@db:6432/latch?"
	    "target_session_attrs=read-write", &h), 0);
	assert_non_null(h);
	assert_int_equal(dbhosts_count(h), 1);
	assert_int_equal(dbhosts_params(h, 0, dkeys, dvalues, keys, values, 64),
	    0);
	assert_string_equal(value_of(keys, values, "host"), "db");
	assert_string_equal(value_of(keys, values, "port"), "6432");
	assert_string_equal(value_of(keys, values, "target_session_attrs"),
	    "any");
	dbhosts_free(h);
	assert_int_equal(dbhosts_parse("dbname=latch target_session_attrs="
	    "primary", &h), 0);
	assert_non_null(h);
	assert_int_equal(dbhosts_count(h), 1);
	assert_int_equal(dbhosts_params(h, 0, dkeys, dvalues, keys, values, 64),
	    0);
	assert_null(value_of(keys, values, "host"));
	assert_null(value_of(keys, values, "port"));
	assert_string_equal(value_of(keys, values, "dbname"), "latch");
	dbhosts_free(h);
}

static void
test_refused(void **state)
{
	char many[512] = "host=";
	struct dbhosts *h;

	(void)state;
	for (int i = 0; i <= DBHOSTS_MAX; i++)
		snprintf(many + strlen(many), sizeof many - strlen(many),
		    "%sh%d", i ? "," : "", i);
	strcat(many, " target_session_attrs=read-write");
	{
		const char *const bad[] = {
			"postgresql://a,b/latch?target_session_attrs=read-write"
			    "&port=1,2,3",
			"host=a,b hostaddr=10.0.0.1 target_session_attrs=primary",
			"this is = not = a conninfo",
			"postgresql://[broken",
			many,
		};

		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			h = (struct dbhosts *)1;
			if (dbhosts_parse(bad[i], &h) != -1)
				fail_msg("accepted \"%.60s\"", bad[i]);
			assert_null(h);
		}
	}
	/* Too small an array for host 0's keywords. */
	{
		const char *keys[4], *values[4];

		assert_int_equal(dbhosts_parse("host=a,b dbname=latch user=u "
		    "target_session_attrs=read-write", &h), 0);
		assert_non_null(h);
		assert_int_equal(dbhosts_params(h, 0, dkeys, dvalues, keys,
		    values, 4), -1);
		dbhosts_free(h);
	}
	dbhosts_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_left_to_libpq),
		cmocka_unit_test(test_each_host_alone),
		cmocka_unit_test(test_keyword_strings_and_one_port),
		cmocka_unit_test(test_one_host_too),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
