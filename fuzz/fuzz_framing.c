/*
 * fuzz_framing.c - fhirpamd's reading of a request's body framing
 * (tools/fhirpamd/body.c): any Content-Length and Transfer-Encoding values
 * read without a crash, a length is only claimed for 1*DIGIT, and no
 * method with a body of unknown or unseen extent is ever judged.
 *
 * Input: CONTENT_LENGTH NUL TRANSFER_ENCODING NUL METHOD.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *text = malloc(size + 3);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    memset(text + size, 0, 3);
    const char *cl = text, *te = cl + strlen(cl) + 1;
    const char *method = te <= text + size ? te + strlen(te) + 1 : "";
    if (method > text + size)
        method = "";
    for (int none = 0; none < 2; none++) {
        body_framing f = body_framing_of(cl, te, none != 0);
        if (f.length_known && (strspn(cl, "0123456789") != strlen(cl) || te[0] != '\0'))
            abort();
        if (f.presence == BODY_NONE && te[0] != '\0')
            abort();
        for (int view = BODY_VIEW_NONE; view <= BODY_VIEW_PARTIAL; view++) {
            const body_refusal *r = body_judge(method, f.presence, (body_view)view, none != 0);
            int ignores = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ||
                          strcmp(method, "DELETE") == 0;
            if (r == NULL && !ignores && f.presence != BODY_NONE && view != BODY_VIEW_WHOLE)
                abort(); /* a body not seen whole, judged */
            if (r == NULL && ignores && f.presence == BODY_PRESENT)
                abort(); /* a GET body, let through */
        }
    }
    free(text);
    return 0;
}
