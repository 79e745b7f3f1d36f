/* api.c: the /api/ routes: a protected resource and the health check. */
#include <stdio.h>

#include "authn.h"
#include "errors.h"
#include "server.h"

/* GET /api/profile: who the Bearer token belongs to. */
static void
handle_profile(struct app *app, const struct http_request *req,
    json_object *body, const char *arg, struct http_response *resp)
{
	struct authn_principal who;
	char id[24], created[21], hello[USER_NAME_MAX + 8];
	json_object *o;

	(void)body;
	(void)arg;
	if (authn_bearer(app, req, resp, &who) != 0)
		return;
	snprintf(id, sizeof id, "%lld", (long long)who.user_id);
	snprintf(hello, sizeof hello, "Hello %s", who.username);
	http_format_time(who.created_at, created);
	if ((o = json_object_new_object()) == NULL) {
		errors_respond(resp, LATCH_EFAIL);
		return;
	}
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "username",
	    json_object_new_string(who.username));
	json_object_object_add(o, "email", who.has_email ?
	    json_object_new_string(who.email) : NULL);
	json_object_object_add(o, "created_at",
	    json_object_new_string(created));
	json_object_object_add(o, "message", json_object_new_string(hello));
	http_response_json(resp, 200, o);
}

/* GET /api/health: whether this process can reach PostgreSQL (the
 * primary: a replica of DATABASE_READ_URL is not asked, so that one that
 * hangs cannot hold a health check, and reads go on without it). */
static void
handle_health(struct app *app, const struct http_request *req,
    json_object *body, const char *arg, struct http_response *resp)
{
	json_object *o;
	int up;

	(void)req;
	(void)body;
	(void)arg;
	up = db_ping(app->db) == DB_OK;
	if ((o = json_object_new_object()) == NULL) {
		errors_respond(resp, LATCH_EFAIL);
		return;
	}
	json_object_object_add(o, "status",
	    json_object_new_string(up ? "ok" : "unavailable"));
	json_object_object_add(o, "database",
	    json_object_new_string(up ? "ok" : "unavailable"));

	if (!up) {
		json_object_object_add(o, "error",
		    json_object_new_string("temporarily_unavailable"));
		json_object_object_add(o, "error_description",
		    json_object_new_string("The database cannot be reached"));
		http_response_header(resp, "Retry-After", "5");
	}
	http_response_json(resp, up ? 200 : 503, o);
}

static const struct route api_routes[] = {
	{ .method = HTTP_GET, .path = "/api/profile",
	    .body = ROUTE_BODY_NONE, .handler = handle_profile, .bearer = 1,
	    .public_answer = 1, .reads = 1 },
	{ .method = HTTP_GET, .path = "/api/health",
	    .body = ROUTE_BODY_NONE, .handler = handle_health,
	    .public_answer = 1 },
};

int
main(void)
{
	return server_main("api", api_routes,
	    sizeof api_routes / sizeof api_routes[0]);
}
