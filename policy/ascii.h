/* Locale-independent ASCII helpers shared by the parsers (header-only). */
#ifndef TF_ASCII_H
#define TF_ASCII_H

/* The value of a hex digit, or -1. */
static inline int tf_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static inline unsigned char tf_ascii_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

#endif
