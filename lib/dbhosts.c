/* dbhosts.c: one connection string per listed host, for lib/db.c. */
#include "dbhosts.h"

#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>


/* A comma list of libpq's, cut in place into its items. */
struct list {
	char *text;                     /* owned copy, commas made NULs */
	const char *item[DBHOSTS_MAX];
	size_t n;                       /* 0: the option was not given */
};

struct dbhosts {
	PQconninfoOption *opts;         /* libpq's parse, owned */
	struct list host, hostaddr, port;
	size_t n;
};

/* Cuts s (NULL or "": not given) into l. Returns 0, or -1 with more than
 * DBHOSTS_MAX items or no memory. */
static int
list_split(const char *s, struct list *l)
{
	char *p;

	memset(l, 0, sizeof *l);
	if (s == NULL || s[0] == '\0')
		return 0;
	if ((l->text = strdup(s)) == NULL)
		return -1;
	p = l->text;
	for (;;) {
		char *comma = strchr(p, ',');

		if (l->n == DBHOSTS_MAX)
			return -1;
		l->item[l->n++] = p;
		if (comma == NULL)
			return 0;
		*comma = '\0';
		p = comma + 1;
	}
}

static const char *
option(const PQconninfoOption *opts, const char *keyword)
{
	for (const PQconninfoOption *o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, keyword) == 0)
			return o->val;
	return NULL;
}

int
dbhosts_parse(const char *conninfo, struct dbhosts **out)
{
	struct dbhosts *h;
	const char *tsa;
	char *err = NULL;

	*out = NULL;
	if ((h = calloc(1, sizeof *h)) == NULL)
		return -1;
	h->opts = PQconninfoParse(conninfo != NULL ? conninfo : "", &err);
	PQfreemem(err);
	if (h->opts == NULL)
		goto fail;
	tsa = option(h->opts, "target_session_attrs");
	if (tsa == NULL || (strcmp(tsa, "read-write") != 0 &&
	    strcmp(tsa, "primary") != 0)) {
		dbhosts_free(h);
		return 0;
	}
	if (list_split(option(h->opts, "host"), &h->host) != 0 ||
	    list_split(option(h->opts, "hostaddr"), &h->hostaddr) != 0 ||
	    list_split(option(h->opts, "port"), &h->port) != 0)
		goto fail;
	h->n = h->host.n > h->hostaddr.n ? h->host.n : h->hostaddr.n;
	/* As libpq pairs them: hostaddr item for item with host, and one
	 * port for all or one per host. */
	if ((h->host.n != 0 && h->hostaddr.n != 0 &&
	    h->host.n != h->hostaddr.n) ||
	    (h->port.n > 1 && h->port.n != h->n))
		goto fail;
	/* One host, or none (libpq's default): asked the same way, since a
	 * pooler's report is no better for being alone. */
	if (h->n == 0)
		h->n = 1;
	*out = h;
	return 0;
fail:
	dbhosts_free(h);
	return -1;
}

size_t
dbhosts_count(const struct dbhosts *h)
{
	return h->n;
}

static int
is_host_keyword(const char *k)
{
	return strcmp(k, "host") == 0 || strcmp(k, "hostaddr") == 0 ||
	    strcmp(k, "port") == 0 || strcmp(k, "target_session_attrs") == 0;
}

int
dbhosts_params(const struct dbhosts *h, size_t i,
    const char *const *defaults_keys, const char *const *defaults_values,
    const char **keys, const char **values, size_t max)
{
	size_t n = 0;

#define PUT(k, v) do {                                                  \
		if (n + 1 >= max)                                       \
			return -1;                                      \
		keys[n] = (k);                                          \
		values[n] = (v);                                        \
		n++;                                                    \
	} while (0)

	for (size_t d = 0; defaults_keys[d] != NULL; d++)
		if (option(h->opts, defaults_keys[d]) == NULL)
			PUT(defaults_keys[d], defaults_values[d]);
	for (const PQconninfoOption *o = h->opts; o->keyword != NULL; o++)
		if (o->val != NULL && !is_host_keyword(o->keyword))
			PUT(o->keyword, o->val);
	if (h->host.n != 0)
		PUT("host", h->host.item[i]);
	if (h->hostaddr.n != 0)
		PUT("hostaddr", h->hostaddr.item[i]);
	if (h->port.n != 0)
		PUT("port", h->port.item[h->port.n == 1 ? 0 : i]);
	PUT("target_session_attrs", "any");
#undef PUT
	keys[n] = NULL;
	values[n] = NULL;
	return 0;
}

void
dbhosts_free(struct dbhosts *h)
{
	if (h == NULL)
		return;
	if (h->opts != NULL) {
		for (PQconninfoOption *o = h->opts; o->keyword != NULL; o++)
			if (o->val != NULL)
				OPENSSL_cleanse(o->val, strlen(o->val));
		PQconninfoFree(h->opts);
	}
	free(h->host.text);
	free(h->hostaddr.text);
	free(h->port.text);
	free(h);
}
