/* email.c — plain-text and hashed email checks. */
#include "qx_email.h"

#include <ctype.h>
#include <string.h>

/* RFC 5321 caps a forward path at 256 octets, i.e. 254 for the address. */
#define QX_EMAIL_MAX 254
#define QX_SHA256_HEX_LEN 64

static bool is_local_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '@' && c != '(' && c != ')' && c != ',' && c != ':' &&
           c != ';' && c != '<' && c != '>' && c != '[' && c != ']' && c != '\\' && c != '"';
}

bool qx_is_valid_email(const char *s)
{
    if (s == NULL)
        return false;
    size_t len = strlen(s);
    if (len == 0 || len > QX_EMAIL_MAX)
        return false;
    const char *at = strchr(s, '@');
    if (at == NULL || at == s || strchr(at + 1, '@') != NULL)
        return false;
    for (const char *p = s; p < at; p++)
        if (!is_local_char((unsigned char)*p))
            return false;
    if (s[0] == '.' || at[-1] == '.' || strstr(s, "..") != NULL)
        return false;
    const char *domain = at + 1;
    size_t label = 0;
    int dots = 0;
    for (const char *p = domain;; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '.' || c == '\0') {
            if (label == 0 || p[-1] == '-')
                return false;
            if (c == '\0')
                break;
            dots++;
            label = 0;
            continue;
        }
        if (!(isalnum(c) || c == '-') || (label == 0 && c == '-') || label >= 63)
            return false;
        label++;
    }
    return dots >= 1;
}

bool qx_is_hashed_email(const char *s)
{
    if (s == NULL || strlen(s) != QX_SHA256_HEX_LEN)
        return false;
    for (const char *p = s; *p; p++)
        if (!isxdigit((unsigned char)*p))
            return false;
    return true;
}
