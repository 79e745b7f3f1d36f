# shellcheck shell=bash
# deploy/dev/recipes/shared-fcgid.sh: recipe shared-fcgid (stack.sh
# "recipes"): shared-cgi.sh with deploy/shared-hosting/htaccess-fcgid, for
# hosts that offer mod_fcgid through .htaccess.
SHARED_HTACCESS=htaccess-fcgid
# shellcheck source=deploy/dev/recipes/shared-cgi.sh
. "$REPO/deploy/dev/recipes/shared-cgi.sh"
