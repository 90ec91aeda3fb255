/* fuzz_b64url.c -- jwt_b64url_decode / jwt_b64url_encode.
 *
 * Properties: decode writes no more than JWT_B64_DECODED_MAX(n) bytes (the
 * output buffer is exactly that size, so ASan sees any overrun); whatever
 * decode accepts re-encodes to the same text (the decoder is strict: one text
 * per byte string); and every byte string encodes to a text that decodes back
 * to it, of length JWT_B64_ENCODED_LEN. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Copies, exactly sized, so a read past the end is caught too. */
    char *text = malloc(size ? size : 1);
    unsigned char *dec = malloc(JWT_B64_DECODED_MAX(size) ? JWT_B64_DECODED_MAX(size) : 1);
    char *enc = malloc(JWT_B64_ENCODED_LEN(size) ? JWT_B64_ENCODED_LEN(size) : 1);
    unsigned char *back = malloc(JWT_B64_DECODED_MAX(JWT_B64_ENCODED_LEN(size)) + 1);
    size_t outn = (size_t)-1, n, m;

    memcpy(text, data, size);
    if (jwt_b64url_decode(text, size, dec, &outn) == 0) {
        char *again = malloc(JWT_B64_ENCODED_LEN(outn) + 1);
        if (outn > JWT_B64_DECODED_MAX(size))
            abort();
        n = jwt_b64url_encode(dec, outn, again);
        if (n != size || memcmp(again, text, size) != 0)
            abort();                       /* two texts for one byte string */
        free(again);
    }

    /* The same bytes as binary input to the encoder. */
    n = jwt_b64url_encode(data, size, enc);
    if (n != JWT_B64_ENCODED_LEN(size))
        abort();
    if (jwt_b64url_decode(enc, n, back, &m) != 0 || m != size
        || (size && memcmp(back, data, size) != 0))
        abort();

    free(text);
    free(dec);
    free(enc);
    free(back);
    return 0;
}
