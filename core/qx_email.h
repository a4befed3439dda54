/*
 * qx_email.h — email address checks shared by the sender and the emulator.
 *
 * The Qualtrics Automations destination takes plain-text emails only:
 * a hashed email (SHA-256, 64 hex characters) is refused by the sender, and
 * the emulator's directory tasks need a syntactically valid address.
 */
#ifndef QX_EMAIL_H
#define QX_EMAIL_H

#include <stdbool.h>

/* True when s looks like an address a mail system accepts: one '@', a
 * non-empty local part of printable characters without spaces, a domain of
 * dot-separated labels (letters, digits, hyphens) with at least one dot,
 * total length at most 254. */
bool qx_is_valid_email(const char *s);

/* True when s is 64 hexadecimal characters (a SHA-256 digest). */
bool qx_is_hashed_email(const char *s);

#endif
