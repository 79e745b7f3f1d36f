/* log.c: single-line event logging to stderr. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

static const char *log_program = "latch";

void
log_init(const char *program)
{
	log_program = program;
}

static const char *
level_name(enum log_level level)
{
	switch (level) {
	case LOG_DEBUG: return "debug";
	case LOG_INFO: return "info";
	case LOG_WARN: return "warn";
	case LOG_ERROR: return "error";
	}
	return "unknown";
}

void
log_event(enum log_level level, const char *event, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int head, n;
	size_t len;

	head = snprintf(line, sizeof line, "latch prog=%s level=%s event=%s",
	    log_program, level_name(level), event);
	if (head < 0 || (size_t)head >= sizeof line - 2)
		return;
	len = (size_t)head;
	if (fmt != NULL && fmt[0] != '\0') {
		line[len++] = ' ';
		va_start(ap, fmt);
		n = vsnprintf(line + len, sizeof line - len - 1, fmt, ap);
		va_end(ap);
		if (n < 0)
			n = 0;
		/* A truncated line is still one line: keep what fits. */
		if ((size_t)n > sizeof line - len - 2)
			n = (int)(sizeof line - len - 2);
		for (size_t i = len; i < len + (size_t)n; i++)
			if (line[i] < 0x20 || line[i] > 0x7e)
				line[i] = '?';
		len += (size_t)n;
	}
	line[len++] = '\n';
	/* One write(2) so that lines of concurrent processes don't interleave. */
	if (write(STDERR_FILENO, line, len) < 0)
		return;
}
