/* fuzz_common.h: what the harnesses share: the libFuzzer entry point's
 * prototype, the property check (a violated property aborts, which
 * libFuzzer reports as a crash with the input saved) and a splitter of
 * the input into NUL-terminated lines. Header-only: each harness is one
 * translation unit linked with lib/. */
#ifndef LATCH_FUZZ_COMMON_H
#define LATCH_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property that must hold on every input: on violation the line and the
 * condition are printed and the process aborts. */
#define FUZZ_CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz property violated at %s:%d: %s\n", \
		    __FILE__, __LINE__, #cond); \
		abort(); \
	} \
} while (0)

/* A NUL-terminated copy of the size bytes at data (the caller frees it),
 * or NULL when out of memory. Embedded NULs stay: C-string parsers see
 * the text up to the first of them. */
static inline char *
fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		return NULL;
	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* Cuts text at each '\n' (replaced by NUL) into at most max lines,
 * stored in line[]; returns the count. */
static inline size_t
fuzz_lines(char *text, char **line, size_t max)
{
	size_t n = 0;

	while (text != NULL && n < max) {
		char *nl = strchr(text, '\n');

		line[n++] = text;
		if (nl != NULL)
			*nl++ = '\0';
		text = nl;
	}
	return n;
}

/* 1 when the n bytes at needle (n >= 1) occur in the NUL-terminated hay. */
static inline int
fuzz_contains(const char *hay, const char *needle, size_t n)
{
	size_t hl = strlen(hay);

	for (size_t i = 0; n > 0 && i + n <= hl; i++)
		if (memcmp(hay + i, needle, n) == 0)
			return 1;
	return 0;
}

#endif
