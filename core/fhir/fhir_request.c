/* fhir_request.c - see fhir_request.h. */
#include "fhir_request.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "json_strict.h"

static const char *const interaction_names[] = {
    [FHIRPAM_IA_CAPABILITIES] = "capabilities",
    [FHIRPAM_IA_READ] = "read",
    [FHIRPAM_IA_VREAD] = "vread",
    [FHIRPAM_IA_UPDATE] = "update",
    [FHIRPAM_IA_PATCH] = "patch",
    [FHIRPAM_IA_DELETE] = "delete",
    [FHIRPAM_IA_HISTORY_INSTANCE] = "history-instance",
    [FHIRPAM_IA_HISTORY_TYPE] = "history-type",
    [FHIRPAM_IA_HISTORY_SYSTEM] = "history-system",
    [FHIRPAM_IA_CREATE] = "create",
    [FHIRPAM_IA_SEARCH_TYPE] = "search-type",
    [FHIRPAM_IA_SEARCH_SYSTEM] = "search-system",
    [FHIRPAM_IA_SEARCH_COMPARTMENT] = "search-compartment",
    [FHIRPAM_IA_BATCH] = "batch",
    [FHIRPAM_IA_TRANSACTION] = "transaction",
    [FHIRPAM_IA_OPERATION] = "operation",
};

FHIRPAM_API const char *fhirpam_interaction_name(fhirpam_interaction ia)
{
    if ((int)ia <= 0 || (size_t)ia >= sizeof interaction_names / sizeof interaction_names[0])
        return "unknown";
    return interaction_names[ia];
}

/* Types that have a compartment (R4 CompartmentDefinition). */
static const char *const compartment_types[] = {"Patient", "Encounter", "RelatedPerson",
                                                "Practitioner", "Device"};

typedef struct parser {
    fhir_request *r;
    char *arena, *next, *end; /* strings */
    size_t max_params;        /* room in r->params */
    char *err;
    size_t errlen;
} parser;

static int fail(parser *p, const char *msg)
{
    snprintf(p->err, p->errlen, "%s", msg);
    return -1;
}

/* Copies s[0..len) into the arena; NULL when it does not fit (cannot
 * happen: the arena is sized from the input). */
static char *keep(parser *p, const char *s, size_t len)
{
    if ((size_t)(p->end - p->next) < len + 1)
        return NULL;
    char *out = p->next;
    memcpy(out, s, len);
    out[len] = '\0';
    p->next += len + 1;
    return out;
}

/* Upper bounds for the parameters ('&' + 1) and values (',' + 1) in s. */
static size_t count_char(const char *s, size_t len, char c)
{
    size_t n = 0;
    for (const char *end = s + len; (s = memchr(s, c, (size_t)(end - s))) != NULL; s++)
        n++;
    return n;
}

static void count_separators(const char *s, size_t len, size_t *params, size_t *values)
{
    size_t amps = count_char(s, len, '&');
    *params += amps + 1;
    *values += amps + count_char(s, len, ',') + 1;
}

/* The bytes decode() must look at: escapes, '+', control characters. */
#define C4(n) [n] = 1, [(n) + 1] = 1, [(n) + 2] = 1, [(n) + 3] = 1
static const unsigned char needs_decoding[256] = {
    C4(0x00), C4(0x04), C4(0x08),  C4(0x0c),  C4(0x10),   C4(0x14),
    C4(0x18), C4(0x1c), ['%'] = 1, ['+'] = 1, [0x7f] = 1,
};
#undef C4

/* None of the eight bytes of w needs decoding: no '%', '+', DEL or control
 * character. Each test is the "has a zero byte" one (Hacker's Delight
 * 6-1): (x - 0x01..) & ~x & 0x80.. is non-zero exactly when some byte of x
 * is zero (or, for the last, below 0x20); bytes from 0x80 up never count. */
static bool word_is_plain(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t pct = w ^ (ones * '%'), plus = w ^ (ones * '+'), del = w ^ (ones * 0x7f);
    uint64_t hits = ((pct - ones) & ~pct) | ((plus - ones) & ~plus) | ((del - ones) & ~del) |
                    ((w - ones * 0x20) & ~w);
    return (hits & highs) == 0;
}

/* Percent-decodes s[0..len) into the arena ('+' is a space, as in forms).
 * NULL on a bad escape or a NUL. */
static char *decode(parser *p, const char *s, size_t len)
{
    if ((size_t)(p->end - p->next) < len + 1)
        return NULL;
    char *out = p->next, *o = out;
    size_t plain = 0; /* the common case: nothing to decode */
    for (uint64_t w; plain + 8 <= len; plain += 8) {
        memcpy(&w, s + plain, 8);
        if (!word_is_plain(w))
            break;
    }
    while (plain < len && !needs_decoding[(unsigned char)s[plain]])
        plain++;
    memcpy(o, s, plain);
    o += plain;
    for (size_t i = plain; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= len)
                return NULL;
            int h = hex_digit((unsigned char)s[i + 1]), l = hex_digit((unsigned char)s[i + 2]);
            /* Decoded control characters are refused like raw ones. */
            if (h < 0 || l < 0 || h * 16 + l < 0x20 || h * 16 + l == 0x7f)
                return NULL;
            *o++ = (char)(h * 16 + l);
            i += 2;
        } else if (c == '+') {
            *o++ = ' ';
        } else if ((unsigned char)c < 0x20 || c == 0x7f) {
            return NULL;
        } else {
            *o++ = c;
        }
    }
    *o = '\0';
    p->next = o + 1;
    return out;
}

static bool is_type(const char *s, size_t len)
{
    if (len == 0 || len > 64 || s[0] < 'A' || s[0] > 'Z')
        return false;
    for (size_t i = 1; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
            return false;
    }
    return true;
}

static bool is_id(const char *s, size_t len)
{
    if (len == 0 || len > 64)
        return false;
    /* "." and ".." are ids by the FHIR regex, and path steps to any server
     * or proxy that normalises URLs: refused. */
    if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.'))
            return false;
    }
    return true;
}

static bool is_operation(const char *s, size_t len)
{
    if (len < 2 || len > 65 || s[0] != '$')
        return false;
    for (size_t i = 1; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              (c == '-' && i > 1)))
            return false;
    }
    return true;
}

/* Splits one `key=value` pair into a parameter. */
static int add_param(parser *p, const char *s, size_t len)
{
    fhir_request *r = p->r;
    const char *eq = memchr(s, '=', len);
    if (eq == NULL || eq == s)
        return fail(p, "a search parameter without a name or '='");
    if (r->nparams == FHIR_MAX_PARAMS)
        return fail(p, "more than 100 search parameters");
    if (r->nparams == p->max_params)
        return fail(p, "out of memory");
    char *key = decode(p, s, (size_t)(eq - s));
    if (key == NULL || key[0] == '\0')
        return fail(p, "a search parameter name is not valid percent-encoding");
    fhir_param *fp = &r->params[r->nparams];
    memset(fp, 0, sizeof *fp);
    fp->name = key;
    if (strncmp(key, "_has:", 5) == 0) {
        key[4] = '\0';
        fp->modifier = key + 5;
    } else {
        /* Names are short: one pass finds both separators. */
        char *colon = NULL, *dot = NULL;
        for (char *c = key; *c != '\0'; c++) {
            if (*c == ':' && colon == NULL)
                colon = c;
            else if (*c == '.' && dot == NULL)
                dot = c;
        }
        if (colon != NULL && (dot == NULL || colon < dot)) {
            *colon = '\0';
            fp->modifier = colon + 1;
        }
        if (dot != NULL) {
            *dot = '\0';
            fp->chain = dot + 1;
        }
    }
    if (fp->name[0] == '\0' || (fp->modifier && fp->modifier[0] == '\0') ||
        (fp->chain && fp->chain[0] == '\0'))
        return fail(p, "a search parameter name has an empty part");

    /* Values: a comma is an OR, `\,` a literal comma. */
    char *value = decode(p, eq + 1, len - (size_t)(eq + 1 - s));
    if (value == NULL)
        return fail(p, "a search parameter value is not valid percent-encoding");
    /* Most values are one token: no comma, no escape, nothing to split. */
    bool plain = strpbrk(value, ",\\") == NULL;
    size_t count = 1;
    for (const char *c = value; !plain && *c; c++) {
        if (*c == '\\' && c[1] != '\0')
            c++;
        else if (*c == ',')
            count++;
    }
    if (count > FHIR_MAX_VALUES)
        return fail(p, "more than 100 values in one search parameter");
    size_t need = count * sizeof(char *);
    /* Pointer arrays live at the arena's end, aligned. */
    uintptr_t top = ((uintptr_t)p->end - need) & ~(uintptr_t)(sizeof(char *) - 1);
    if ((char *)top < p->next)
        return fail(p, "out of memory");
    p->end = (char *)top;
    fp->values = (char **)top;
    if (plain) {
        fp->values[fp->nvalues++] = value;
        r->nparams++;
        return 0;
    }
    char *w = value, *start = value;
    for (char *c = value;; c++) {
        if (*c == '\\' && (c[1] == ',' || c[1] == '\\')) {
            *w++ = *++c;
            continue;
        }
        if (*c == ',' || *c == '\0') {
            bool last = *c == '\0';
            *w = '\0';
            fp->values[fp->nvalues++] = start;
            if (last)
                break;
            start = ++w;
            continue;
        }
        *w++ = *c;
    }
    r->nparams++;
    return 0;
}

static int parse_query(parser *p, const char *q, size_t len)
{
    size_t i = 0;
    while (i < len) {
        const char *amp = memchr(q + i, '&', len - i);
        size_t j = amp ? (size_t)(amp - q) : len;
        if (j > i && add_param(p, q + i, j - i) != 0)
            return -1;
        i = j + 1;
    }
    return 0;
}

static int bundle_kind(const char *body, size_t len, fhirpam_interaction *out)
{
    char err[128];
    json_t *doc = body ? json_strict_parse(body, len, 256, err, sizeof err) : NULL;
    const char *rt = json_string_value(json_object_get(doc, "resourceType"));
    const char *type = json_string_value(json_object_get(doc, "type"));
    int rc = -1;
    if (rt != NULL && strcmp(rt, "Bundle") == 0 && type != NULL) {
        if (strcmp(type, "batch") == 0)
            *out = FHIRPAM_IA_BATCH, rc = 0;
        else if (strcmp(type, "transaction") == 0)
            *out = FHIRPAM_IA_TRANSACTION, rc = 0;
    }
    json_decref(doc);
    return rc;
}

int fhir_request_parse(const char *method, const char *url, const char *base, const char *body,
                       size_t body_len, const char *if_none_exist, fhir_request *out, char *err,
                       size_t errlen)
{
    memset(out, 0, offsetof(fhir_request, inline_buf));
    parser p = {.r = out, .err = err, .errlen = errlen};
    size_t url_len = strlen(url);
    if (url_len > FHIR_MAX_URL)
        return fail(&p, "the URL is longer than 8192 bytes");
    if (body_len > FHIR_MAX_BODY)
        return fail(&p, "the body is larger than the limit");
    bool get = false, post = false, put = false, patch = false, del = false;
    switch (method[0]) { /* one comparison per request, not six */
    case 'G':
        get = strcmp(method, "GET") == 0;
        break;
    case 'H':
        get = strcmp(method, "HEAD") == 0;
        break;
    case 'P':
        post = strcmp(method, "POST") == 0;
        put = !post && strcmp(method, "PUT") == 0;
        patch = !post && !put && strcmp(method, "PATCH") == 0;
        break;
    case 'D':
        del = strcmp(method, "DELETE") == 0;
        break;
    }
    if (!get && !post && !put && !patch && !del) {
        snprintf(err, errlen, "method %.16s is not a FHIR interaction", method);
        return -1;
    }

    /* An absolute URL must be on this server. */
    const char *rest = url;
    if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0) {
        size_t blen = base ? strlen(base) : 0;
        while (blen > 0 && base[blen - 1] == '/')
            blen--;
        if (blen == 0)
            return fail(&p, "an absolute URL, and no fhir_base is configured");
        if (strncmp(url, base, blen) != 0 ||
            (url[blen] != '\0' && url[blen] != '/' && url[blen] != '?'))
            return fail(&p, "the URL is not under the configured fhir_base");
        rest = url + blen;
    }
    while (*rest == '/')
        rest++;
    size_t rest_len = url_len - (size_t)(rest - url);
    if (memchr(rest, '#', rest_len) != NULL)
        return fail(&p, "the URL has a fragment");
    const char *qmark = memchr(rest, '?', rest_len);
    size_t path_len = qmark ? (size_t)(qmark - rest) : rest_len;
    const char *query = qmark ? qmark + 1 : NULL;
    size_t query_len = query ? rest_len - path_len - 1 : 0;

    bool form = false; /* a POST _search: the body is the form */
    /* One allocation: the parameters, the decoded strings, and the value
     * pointer arrays (at the end), sized from the input. */
    /* Only a POST _search reads its body (as a form): a large resource body
     * must not size the arena. */
    bool form_body =
        post && body != NULL && path_len >= 7 && memcmp(rest + path_len - 7, "_search", 7) == 0;
    size_t text =
        url_len + (if_none_exist ? strlen(if_none_exist) : 0) + (form_body ? body_len : 0);
    size_t max_params = 1, max_values = 1;
    count_separators(url, url_len, &max_params, &max_values);
    if (if_none_exist != NULL)
        count_separators(if_none_exist, strlen(if_none_exist), &max_params, &max_values);
    if (form_body)
        count_separators(body, body_len, &max_params, &max_values);
    if (max_params > FHIR_MAX_PARAMS)
        max_params = FHIR_MAX_PARAMS;
    size_t params_size = max_params * sizeof(fhir_param);
    size_t cap = params_size + 2 * text + 64 + (max_values + max_params) * sizeof(char *) + 16;
    p.arena = cap <= sizeof out->inline_buf ? out->inline_buf : malloc(cap);
    if (p.arena == NULL)
        return fail(&p, "out of memory");
    out->arena = p.arena;
    out->params = (fhir_param *)p.arena;
    p.next = p.arena + params_size;
    p.end = p.arena + cap;
    p.max_params = max_params;

    /* Path segments. */
    const char *seg[5];
    size_t seglen[5], n = 0;
    for (size_t i = 0; i < path_len;) {
        size_t j = i;
        while (j < path_len && rest[j] != '/')
            j++;
        if (j == i || n == 4) {
            fhir_request_clear(out);
            return fail(&p, j == i ? "the URL path has an empty segment"
                                   : "the URL path has too many segments");
        }
        seg[n] = rest + i;
        seglen[n++] = j - i;
        i = j + 1;
    }
#define SEG_IS(k, lit) (seglen[k] == sizeof(lit) - 1 && memcmp(seg[k], lit, seglen[k]) == 0)
    int rc = -1;
    const char *why = "the URL is not a FHIR REST request";
    fhirpam_interaction ia = 0;
    if (n == 0) {
        if (get) {
            ia = FHIRPAM_IA_SEARCH_SYSTEM;
        } else if (!post || query != NULL || bundle_kind(body, body_len, &ia) != 0) {
            why = "a POST to the base needs a batch or transaction Bundle";
            goto bad;
        }
    } else if (n == 1 && SEG_IS(0, "metadata") && get) {
        ia = FHIRPAM_IA_CAPABILITIES;
    } else if (n == 1 && SEG_IS(0, "_history") && get) {
        ia = FHIRPAM_IA_HISTORY_SYSTEM;
    } else if (n == 1 && SEG_IS(0, "_search") && post) {
        ia = FHIRPAM_IA_SEARCH_SYSTEM;
        form = true;
    } else if (is_operation(seg[n - 1], seglen[n - 1]) && (get || post) &&
               (n == 1 || (n == 2 && is_type(seg[0], seglen[0])) ||
                (n == 3 && is_type(seg[0], seglen[0]) && is_id(seg[1], seglen[1])))) {
        ia = FHIRPAM_IA_OPERATION;
        out->operation = keep(&p, seg[n - 1] + 1, seglen[n - 1] - 1);
        out->operation_level = n == 1   ? FHIRPAM_OP_SYSTEM
                               : n == 2 ? FHIRPAM_OP_TYPE
                                        : FHIRPAM_OP_INSTANCE;
        if (n >= 2)
            out->type = keep(&p, seg[0], seglen[0]);
        if (n == 3)
            out->id = keep(&p, seg[1], seglen[1]);
    } else if (!is_type(seg[0], seglen[0])) {
        why = "the URL does not start with a resource type";
        goto bad;
    } else {
        out->type = keep(&p, seg[0], seglen[0]);
        if (n == 1) {
            if (get)
                ia = FHIRPAM_IA_SEARCH_TYPE;
            else if (post)
                ia = FHIRPAM_IA_CREATE, out->conditional = if_none_exist != NULL;
            else if (query == NULL) {
                why = "a conditional update, patch or delete needs search parameters";
                goto bad;
            } else {
                ia = put ? FHIRPAM_IA_UPDATE : patch ? FHIRPAM_IA_PATCH : FHIRPAM_IA_DELETE;
                out->conditional = true;
            }
        } else if (n == 2 && SEG_IS(1, "_search") && post) {
            ia = FHIRPAM_IA_SEARCH_TYPE;
            form = true;
        } else if (n == 2 && SEG_IS(1, "_history") && get) {
            ia = FHIRPAM_IA_HISTORY_TYPE;
        } else if (!is_id(seg[1], seglen[1])) {
            why = "the resource id is not a FHIR id";
            goto bad;
        } else {
            out->id = keep(&p, seg[1], seglen[1]);
            if (n == 2) {
                ia = get     ? FHIRPAM_IA_READ
                     : put   ? FHIRPAM_IA_UPDATE
                     : patch ? FHIRPAM_IA_PATCH
                     : del   ? FHIRPAM_IA_DELETE
                             : 0;
                if (ia == 0) {
                    why = "POST to a resource id is not a FHIR interaction";
                    goto bad;
                }
            } else if (SEG_IS(2, "_history") && n == 3 && get) {
                ia = FHIRPAM_IA_HISTORY_INSTANCE;
            } else if (SEG_IS(2, "_history") && n == 4 && (get || del) &&
                       is_id(seg[3], seglen[3])) {
                ia = get ? FHIRPAM_IA_VREAD : FHIRPAM_IA_DELETE;
                out->version_id = keep(&p, seg[3], seglen[3]);
            } else if (n == 3 && get && (is_type(seg[2], seglen[2]) || SEG_IS(2, "*"))) {
                bool compartment = false;
                for (size_t k = 0; k < sizeof compartment_types / sizeof *compartment_types; k++)
                    compartment |= strlen(compartment_types[k]) == seglen[0] &&
                                   memcmp(compartment_types[k], seg[0], seglen[0]) == 0;
                if (!compartment) {
                    why = "the URL names a compartment of a type that has none";
                    goto bad;
                }
                ia = FHIRPAM_IA_SEARCH_COMPARTMENT;
                out->compartment_type = out->type;
                out->compartment_id = out->id;
                out->id = NULL;
                out->type = keep(&p, seg[2], seglen[2]);
            } else {
                goto bad;
            }
        }
    }
    out->interaction = ia;
    if (query != NULL && parse_query(&p, query, query_len) != 0)
        goto failed;
    if (form && body != NULL && parse_query(&p, body, body_len) != 0)
        goto failed;
    if (ia == FHIRPAM_IA_CREATE && if_none_exist != NULL) {
        const char *q = strchr(if_none_exist, '?');
        q = q ? q + 1 : if_none_exist;
        if (parse_query(&p, q, strlen(q)) != 0)
            goto failed;
    }
    if (out->conditional && out->nparams == 0) {
        why = ia == FHIRPAM_IA_CREATE
                  ? "If-None-Exist has no search parameters"
                  : "a conditional update, patch or delete needs search parameters";
        goto bad;
    }
    rc = 0;
    return rc;
bad:
    fail(&p, why);
failed:
    fhir_request_clear(out);
    return -1;
#undef SEG_IS
}

void fhir_request_clear(fhir_request *r)
{
    if (r->arena != r->inline_buf)
        free(r->arena);
    memset(r, 0, offsetof(fhir_request, inline_buf));
}
