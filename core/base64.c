/* base64.c — strict base64 decoding (see qx_base64.h). */
#include "qx_base64.h"

#include <stdbool.h>
#include <stdint.h>

size_t qx_base64_decoded_max(size_t in_len)
{
    return in_len / 4 * 3;
}

/* The 6-bit value of c, or -1 when c is not in the standard alphabet. */
static int sextet(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int qx_base64_decode(const char *in, size_t in_len, unsigned char *out, size_t out_size,
                     size_t *out_len)
{
    *out_len = 0;
    if (in_len % 4 != 0)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < in_len; i += 4) {
        bool last = i + 4 == in_len;
        /* '=' may only end the last group: "xx==" or "xxx=". */
        size_t pad = 0;
        if (last && in[i + 3] == '=')
            pad = in[i + 2] == '=' ? 2 : 1;
        uint32_t group = 0;
        for (size_t k = 0; k < 4 - pad; k++) {
            int v = sextet(in[i + k]);
            if (v < 0)
                return -1;
            group = group << 6 | (uint32_t)v;
        }
        group <<= 6 * pad;
        size_t bytes = 3 - pad;
        /* The bits the padding leaves unused must be zero. */
        if ((pad == 1 && (group & 0xffu) != 0) || (pad == 2 && (group & 0xffffu) != 0))
            return -1;
        if (n + bytes > out_size)
            return -1;
        for (size_t k = 0; k < bytes; k++)
            out[n++] = (unsigned char)(group >> (16 - 8 * k));
    }
    *out_len = n;
    return 0;
}
