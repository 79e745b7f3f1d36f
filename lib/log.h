/* log.h: one line per event on stderr, which every FastCGI server sends to
 * its error log:  latch prog=auth level=warn event=refresh_reuse user=42 ...
 * Callers never pass a token, a password, a hash or a secret. */
#ifndef LATCH_LOG_H
#define LATCH_LOG_H

enum log_level {
	LOG_DEBUG,
	LOG_INFO,
	LOG_WARN,
	LOG_ERROR,
};

/* Names the program in every line ("auth", "api", "latchctl"). The string
 * must outlive all logging (a literal). */
void log_init(const char *program);

/* Writes "latch prog=P level=L event=E " followed by the formatted
 * key=value pairs and a newline, as one write. Characters outside printable
 * ASCII in the formatted part are replaced by '?', so that no input can
 * forge a line. Never fails visibly. */
void log_event(enum log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
