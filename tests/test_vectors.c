/*
 * test_vectors.c - third-party test vectors against the JWS layer (jws.h):
 * jwk_import, jws_verify and jws_compact_verify.
 *
 * The vectors are data files under $FHIRPAM_TEST_DATA_DIR/jwt, copied
 * unchanged (see the README.md next to each):
 *   - wycheproof/: Google Wycheproof (Apache-2.0), commit 507bb99: the JOSE
 *     files json_web_signature_test.json and json_web_key_test.json, and the
 *     ES256/RS256/PS256 primitive files of testvectors_v1;
 *   - rfc/jws_vectors.json: the JWS examples of RFC 7515 Appendix A,
 *     RFC 7520 Section 4 and RFC 7797 Section 4.2, plus two negative controls.
 *
 * fhirpam verifies RS/PS 256-512 and ES256/ES384 with the algorithm pinned to
 * the key; HS*, ES512, EdDSA and "none" are refused by design, so vectors that
 * are valid only under those are counted apart, never as accepted.
 */
#include <check.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64url.h"
#include "jws.h"

/* The key sizes of a key set on the defaults (token.min_rsa_bits, max_rsa_bits). */
static const jwk_limits default_limits = {FHIRPAM_RSA_MIN_BITS, FHIRPAM_RSA_DEFAULT_MAX_BITS};
#define MAX_SET_KEYS 8

/* ---- helpers ---- */

/* Loads $FHIRPAM_TEST_DATA_DIR/jwt/<rel>. */
static json_t *load_vectors(const char *rel)
{
    const char *dir = getenv("FHIRPAM_TEST_DATA_DIR");
    ck_assert_msg(dir != NULL && *dir != '\0', "FHIRPAM_TEST_DATA_DIR is not set");
    char path[4096];
    snprintf(path, sizeof path, "%s/jwt/%s", dir, rel);
    json_error_t err;
    json_t *doc = json_load_file(path, 0, &err);
    ck_assert_msg(doc != NULL, "%s: %s (line %d)", path, err.text, err.line);
    return doc;
}

static int hex_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes a hex string into a malloc'd buffer (never NULL, even when empty). */
static unsigned char *hex_decode(const char *hex, size_t *len, int tcid)
{
    size_t n = strlen(hex);
    ck_assert_msg(n % 2 == 0, "tcId %d: odd-length hex", tcid);
    unsigned char *out = malloc(n / 2 + 1);
    ck_assert_ptr_nonnull(out);
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hex_nibble(hex[2 * i]), lo = hex_nibble(hex[2 * i + 1]);
        ck_assert_msg(hi >= 0 && lo >= 0, "tcId %d: bad hex", tcid);
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    *len = n / 2;
    return out;
}

/* The tcIds that went wrong, for the final assertion's message. */
typedef struct tclist {
    char text[2048];
    size_t used;
    unsigned count;
} tclist;

__attribute__((format(printf, 3, 4))) static void tclist_add(tclist *l, int tcid, const char *fmt,
                                                             ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    fprintf(stderr, "tcId %d: %s\n", tcid, what);
    l->count++;
    if (l->used < sizeof l->text) {
        int n = snprintf(l->text + l->used, sizeof l->text - l->used, "%stcId %d (%s)",
                         l->used ? "; " : "", tcid, what);
        if (n > 0)
            l->used += (size_t)n;
    }
}

static int tc_id(const json_t *test)
{
    return (int)json_integer_value(json_object_get(test, "tcId"));
}

static const char *tc_result(const json_t *test)
{
    const char *r = json_string_value(json_object_get(test, "result"));
    ck_assert_msg(r != NULL, "tcId %d: no result", tc_id(test));
    return r;
}

/* A JWK set is {"keys":[...]}; the files also give single JWKs. */
static size_t set_size(const json_t *set)
{
    const json_t *keys = json_object_get(set, "keys");
    return json_is_array(keys) ? json_array_size(keys) : 1;
}

static const json_t *set_key(const json_t *set, size_t i)
{
    const json_t *keys = json_object_get(set, "keys");
    return json_is_array(keys) ? json_array_get(keys, i) : set;
}

static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};

static bool has_private_member(const json_t *jwk)
{
    for (size_t i = 0; i < sizeof private_members / sizeof private_members[0]; i++) {
        if (json_object_get(jwk, private_members[i]) != NULL)
            return true;
    }
    return false;
}

/* A key fhirpam cannot use by design: not RSA, not EC on P-256/P-384, or
 * an `alg` it does not implement (HS256, ES512, "ES521"...). */
static bool unsupported_key(const json_t *jwk)
{
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    const json_t *alg = json_object_get(jwk, "alg");
    if (kty == NULL || (strcmp(kty, "RSA") != 0 && strcmp(kty, "EC") != 0))
        return true;
    if (strcmp(kty, "EC") == 0 &&
        (crv == NULL || (strcmp(crv, "P-256") != 0 && strcmp(crv, "P-384") != 0)))
        return true;
    return json_is_string(alg) &&
           jws_alg_from_name(json_string_value(alg), json_string_length(alg)) == JWS_ALG_INVALID;
}

static bool set_has_unsupported_key(const json_t *set)
{
    for (size_t i = 0; i < set_size(set); i++) {
        if (unsupported_key(set_key(set, i)))
            return true;
    }
    return false;
}

/* The "alg" of a compact token's header names an algorithm fhirpam does not
 * implement (HS256, ES512, none...). False when the header does not parse. */
static bool header_alg_unsupported(const char *tok, size_t len)
{
    const char *dot = memchr(tok, '.', len);
    size_t hlen = dot != NULL ? (size_t)(dot - tok) : len;
    unsigned char *buf = malloc(b64url_decoded_max(hlen) + 1);
    ck_assert_ptr_nonnull(buf);
    bool unsupported = false;
    long n = b64url_decode(tok, hlen, buf);
    if (n >= 0) {
        json_t *header = json_loadb((const char *)buf, (size_t)n, 0, NULL);
        const json_t *alg = json_object_get(header, "alg");
        if (json_is_string(alg))
            unsupported = jws_alg_from_name(json_string_value(alg), json_string_length(alg)) ==
                          JWS_ALG_INVALID;
        json_decref(header);
    }
    free(buf);
    return unsupported;
}

/* The compact token's payload segment is empty (header..signature). */
static bool payload_segment_empty(const char *tok, size_t len)
{
    const char *dot = memchr(tok, '.', len);
    return dot != NULL && (size_t)(dot - tok) + 1 < len && dot[1] == '.';
}

/* ---- key sets and key selection ---- */

typedef struct keyset {
    jwk_key key[MAX_SET_KEYS];
    char *kid[MAX_SET_KEYS]; /* NULL when the JWK has none */
    size_t n;                /* imported */
    size_t offered;          /* JWKs in the set */
    bool kids_unique;        /* among the offered JWKs */
    char why[256];           /* the last import failure */
} keyset;

/* Imports every JWK of set; with strip, private members (not "k") are
 * removed first, as a verifier given a private JWK would. */
static void keyset_load(keyset *ks, const json_t *set, bool strip, jws_alg rsa_fallback)
{
    static const char *const strip_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth"};
    memset(ks, 0, sizeof *ks);
    ks->offered = set_size(set);
    ks->kids_unique = true;
    ck_assert_msg(ks->offered <= MAX_SET_KEYS, "key set of %zu keys", ks->offered);
    for (size_t i = 0; i < ks->offered; i++) {
        const json_t *jwk = set_key(set, i);
        const char *kid = json_string_value(json_object_get(jwk, "kid"));
        for (size_t j = 0; kid != NULL && j < i; j++) {
            const char *other = json_string_value(json_object_get(set_key(set, j), "kid"));
            if (other != NULL && strcmp(kid, other) == 0)
                ks->kids_unique = false;
        }
        json_t *copy = strip ? json_deep_copy(jwk) : NULL;
        for (size_t m = 0; copy != NULL && m < sizeof strip_members / sizeof strip_members[0]; m++)
            json_object_del(copy, strip_members[m]);
        jwk_key key;
        int rc = jwk_import(copy != NULL ? copy : jwk, &default_limits, rsa_fallback, &key, ks->why,
                            sizeof ks->why);
        json_decref(copy);
        if (rc != 0)
            continue;
        ks->key[ks->n] = key;
        ks->kid[ks->n] = kid != NULL ? strdup(kid) : NULL;
        ck_assert(kid == NULL || ks->kid[ks->n] != NULL);
        ks->n++;
    }
}

static void keyset_free(keyset *ks)
{
    for (size_t i = 0; i < ks->n; i++) {
        jwk_key_clear(&ks->key[i]);
        free(ks->kid[i]);
    }
    ks->n = 0;
}

/* The key named by the header's kid, else the only key; the header's alg
 * must be the algorithm pinned to that key. */
static int select_from_set(void *cookie, const json_t *header, size_t siglen, const jwk_key **key,
                           jws_failure *why)
{
    (void)siglen;
    const keyset *ks = cookie;
    const json_t *kid = json_object_get(header, "kid");
    const jwk_key *chosen = NULL;
    if (kid != NULL) {
        if (!json_is_string(kid))
            return jws_refuse(why, "bad_kid", "kid is not a string");
        for (size_t i = 0; i < ks->n && chosen == NULL; i++) {
            if (ks->kid[i] != NULL && strlen(ks->kid[i]) == json_string_length(kid) &&
                memcmp(ks->kid[i], json_string_value(kid), json_string_length(kid)) == 0)
                chosen = &ks->key[i];
        }
        if (chosen == NULL)
            return jws_refuse(why, "unknown_kid", "no key has this kid");
    } else if (ks->n == 1) {
        chosen = &ks->key[0];
    } else {
        return jws_refuse(why, "no_key", "no kid and %zu keys", ks->n);
    }
    const json_t *name = json_object_get(header, "alg");
    if (!json_is_string(name) ||
        jws_alg_from_name(json_string_value(name), json_string_length(name)) != chosen->alg)
        return jws_refuse(why, "bad_alg", "alg is not %s", jws_alg_name(chosen->alg));
    *key = chosen;
    return 0;
}

/* jws_compact_verify over the whole string, with select_key from ks. */
static bool compact_accepted(const json_t *jws, keyset *ks, jws_failure *why)
{
    unsigned char *payload = NULL;
    size_t plen = 0;
    memset(why, 0, sizeof *why);
    int rc = jws_compact_verify(json_string_value(jws), json_string_length(jws), select_from_set,
                                ks, &payload, &plen, why);
    if (rc == 0)
        ck_assert_ptr_nonnull(payload);
    else
        ck_assert_ptr_null(payload);
    free(payload);
    return rc == 0;
}

/* ---- Wycheproof json_web_signature_test.json ---- */

/*
 * The label anomalies of the README: a strict verifier pinning the algorithm
 * to the key rejects all eight. 346/350 are PS384 under a key saying PS256,
 * 347/351 are ES512 under a key saying "ES521", 372/373 change the signing
 * input; 367/370 are byte-identical to the valid HS256 token (a verifier with
 * HS256 would accept them), and fhirpam rejects them because it has no HS256.
 *
 * Besides the algorithms it lacks, fhirpam refuses one valid form by design:
 * an empty payload segment (tcId 259, 264, 268, 272, 320, 325 "emptyPayload"
 * of RS256/384/512, PS256/384/512). RFC 7515 allows it, but jws.h refuses any
 * empty segment: no access token or DPoP proof has an empty payload, and it
 * is also the shape of detached content (RFC 7515 Appendix F).
 */
static const int jws_anomalies[] = {346, 347, 350, 351, 367, 370, 372, 373};

static bool is_jws_anomaly(int tcid)
{
    for (size_t i = 0; i < sizeof jws_anomalies / sizeof jws_anomalies[0]; i++) {
        if (jws_anomalies[i] == tcid)
            return true;
    }
    return false;
}

START_TEST(wycheproof_jws)
{
    ck_assert_int_eq(jws_init(), 0);
    json_t *doc = load_vectors("wycheproof/testvectors/json_web_signature_test.json");
    unsigned total = 0, invalid_rejected = 0, valid_accepted = 0, by_design_alg = 0,
             by_design_empty = 0, anomalies = 0, skipped = 0;
    tclist invalid_accepted = {0}, valid_rejected = {0}, anomaly_accepted = {0};
    size_t g;
    const json_t *group;
    json_array_foreach(json_object_get(doc, "testGroups"), g, group)
    {
        const json_t *pub = json_object_get(group, "public");
        const json_t *set = pub != NULL ? pub : json_object_get(group, "private");
        ck_assert_msg(json_is_object(set), "group %zu has no key", g);
        keyset ks;
        keyset_load(&ks, set, pub == NULL, JWS_RS256);
        size_t i;
        const json_t *test;
        json_array_foreach(json_object_get(group, "tests"), i, test)
        {
            int tcid = tc_id(test);
            const json_t *jws = json_object_get(test, "jws");
            bool valid = strcmp(tc_result(test), "valid") == 0;
            total++;
            if (!json_is_string(jws)) {
                skipped++; /* a JSON serialization given as an object */
                continue;
            }
            jws_failure why;
            bool accepted = compact_accepted(jws, &ks, &why);
            if (is_jws_anomaly(tcid)) {
                anomalies++;
                if (accepted)
                    tclist_add(&anomaly_accepted, tcid, "documented anomaly accepted");
            } else if (!valid) {
                if (accepted)
                    tclist_add(&invalid_accepted, tcid, "invalid, accepted");
                else
                    invalid_rejected++;
            } else if (accepted) {
                valid_accepted++;
            } else if (header_alg_unsupported(json_string_value(jws), json_string_length(jws)) ||
                       set_has_unsupported_key(set)) {
                by_design_alg++;
            } else if (payload_segment_empty(json_string_value(jws), json_string_length(jws)) &&
                       strcmp(why.reason, "bad_structure") == 0) {
                by_design_empty++;
            } else {
                tclist_add(&valid_rejected, tcid, "valid, rejected: %s: %s", why.reason, why.text);
            }
        }
        keyset_free(&ks);
    }
    unsigned unexpected = invalid_accepted.count + valid_rejected.count + anomaly_accepted.count;
    unsigned by_design = by_design_alg + by_design_empty;
    printf("wycheproof: %u JWS vectors: %u invalid rejected, %u valid accepted, %u valid refused "
           "by design (%u HS*/ES512, %u empty payload), %u documented anomalies rejected, "
           "%u JSON serializations skipped, %u unexpected\n",
           total, invalid_rejected, valid_accepted, by_design, by_design_alg, by_design_empty,
           anomalies, skipped, unexpected);
    fflush(stdout);

    ck_assert_msg(invalid_accepted.count == 0, "invalid JWS accepted: %s", invalid_accepted.text);
    ck_assert_msg(valid_rejected.count == 0, "valid JWS rejected: %s", valid_rejected.text);
    ck_assert_msg(anomaly_accepted.count == 0, "anomalies accepted: %s", anomaly_accepted.text);
    ck_assert_int_eq(total, json_integer_value(json_object_get(doc, "numberOfTests")));
    ck_assert_int_eq(total, invalid_rejected + valid_accepted + by_design + anomalies + skipped);
    ck_assert_int_eq(anomalies, sizeof jws_anomalies / sizeof jws_anomalies[0]);
    /* Pinned, so that a vector silently moving between buckets is noticed:
     * 46 valid = 26 accepted + 8 HS256 + 6 empty payloads + 6 valid-labelled
     * anomalies; 355 invalid = 353 + the 2 invalid-labelled anomalies. */
    ck_assert_int_eq(valid_accepted, 26);
    ck_assert_int_eq(by_design_alg, 8);
    ck_assert_int_eq(by_design_empty, 6);
    ck_assert_int_eq(invalid_rejected, 353);
    json_decref(doc);
}
END_TEST

/* ---- Wycheproof json_web_key_test.json ---- */

/* Private material anywhere, an oct key, or an algorithm fhirpam lacks. */
static bool set_refused_by_design(const json_t *set)
{
    for (size_t i = 0; i < set_size(set); i++) {
        if (has_private_member(set_key(set, i)))
            return true;
    }
    return set_has_unsupported_key(set);
}

START_TEST(wycheproof_jwk)
{
    ck_assert_int_eq(jws_init(), 0);
    json_t *doc = load_vectors("wycheproof/testvectors/json_web_key_test.json");
    unsigned total = 0, invalid_refused = 0, valid_accepted = 0, by_design = 0;
    tclist invalid_accepted = {0}, valid_refused = {0};
    size_t g;
    const json_t *group;
    json_array_foreach(json_object_get(doc, "testGroups"), g, group)
    {
        const json_t *pub = json_object_get(group, "public");
        const json_t *set = pub != NULL ? pub : json_object_get(group, "private");
        ck_assert_msg(json_is_object(set), "group %zu has no key", g);
        /* As a JWKS loader would: nothing stripped, every key must import
         * and the kids be unique, else the whole set is refused. */
        keyset ks;
        keyset_load(&ks, set, false, JWS_RS256);
        bool set_ok = ks.offered > 0 && ks.n == ks.offered && ks.kids_unique;
        size_t i;
        const json_t *test;
        json_array_foreach(json_object_get(group, "tests"), i, test)
        {
            int tcid = tc_id(test);
            const json_t *jws = json_object_get(test, "jws");
            bool valid = strcmp(tc_result(test), "valid") == 0;
            total++;
            ck_assert_msg(json_is_string(jws), "tcId %d: no compact jws", tcid);
            jws_failure why = {0};
            bool accepted = set_ok && compact_accepted(jws, &ks, &why);
            const char *reason = set_ok ? why.text : ks.why;
            if (!ks.kids_unique)
                reason = "duplicate kid";
            if (!valid) {
                if (!accepted)
                    invalid_refused++;
                else
                    tclist_add(&invalid_accepted, tcid, "invalid, accepted");
            } else if (accepted) {
                valid_accepted++;
            } else if (set_refused_by_design(set) ||
                       header_alg_unsupported(json_string_value(jws), json_string_length(jws))) {
                by_design++;
            } else {
                tclist_add(&valid_refused, tcid, "valid, refused: %s", reason);
            }
        }
        keyset_free(&ks);
    }
    printf("wycheproof: %u JWK vectors: %u invalid refused (ROCA tcId 7 included), %u valid "
           "accepted, %u refused by design (private/oct/HS*), %u unexpected\n",
           total, invalid_refused, valid_accepted, by_design,
           invalid_accepted.count + valid_refused.count);
    fflush(stdout);

    ck_assert_msg(invalid_accepted.count == 0, "invalid JWK accepted: %s", invalid_accepted.text);
    ck_assert_msg(valid_refused.count == 0, "valid JWK refused: %s", valid_refused.text);
    ck_assert_int_eq(total, json_integer_value(json_object_get(doc, "numberOfTests")));
    ck_assert_int_eq(total, invalid_refused + valid_accepted + by_design);
    ck_assert_int_eq(valid_accepted, 1); /* tcId 5, the RS256 key set */
    json_decref(doc);
}
END_TEST

/* ---- Wycheproof testvectors_v1 primitives ---- */

static const struct {
    const char *file;
    jws_alg rsa_fallback;
    jws_alg alg; /* what the group keys must be pinned to */
} primitive_files[] = {
    {"ecdsa_secp256r1_sha256_p1363_test.json", JWS_RS256, JWS_ES256},
    {"rsa_signature_2048_sha256_test.json", JWS_RS256, JWS_RS256},
    {"rsa_pss_2048_sha256_mgf1_32_test.json", JWS_PS256, JWS_PS256},
};

START_TEST(wycheproof_primitives)
{
    ck_assert_int_eq(jws_init(), 0);
    char rel[256];
    snprintf(rel, sizeof rel, "wycheproof/testvectors_v1/%s", primitive_files[_i].file);
    json_t *doc = load_vectors(rel);
    unsigned total = 0, valid_ok = 0, invalid_rejected = 0, acceptable_rejected = 0;
    tclist wrong = {0};
    size_t g;
    const json_t *group;
    json_array_foreach(json_object_get(doc, "testGroups"), g, group)
    {
        const json_t *jwk = json_object_get(group, "publicKeyJwk");
        if (jwk == NULL)
            jwk = json_object_get(group, "keyJwk");
        ck_assert_msg(json_is_object(jwk), "%s: group %zu has no JWK", rel, g);
        jwk_key key;
        char why[256] = "";
        int rc = jwk_import(jwk, &default_limits, primitive_files[_i].rsa_fallback, &key, why,
                            sizeof why);
        ck_assert_msg(rc == 0, "%s: group %zu: key refused: %s", rel, g, why);
        ck_assert_msg(key.alg == primitive_files[_i].alg, "%s: group %zu: key pinned to %s", rel, g,
                      jws_alg_name(key.alg));
        size_t i;
        const json_t *test;
        json_array_foreach(json_object_get(group, "tests"), i, test)
        {
            int tcid = tc_id(test);
            const char *result = tc_result(test);
            const char *msg_hex = json_string_value(json_object_get(test, "msg"));
            const char *sig_hex = json_string_value(json_object_get(test, "sig"));
            ck_assert_msg(msg_hex != NULL && sig_hex != NULL, "tcId %d: no msg or sig", tcid);
            size_t msglen, siglen;
            unsigned char *msg = hex_decode(msg_hex, &msglen, tcid);
            unsigned char *sig = hex_decode(sig_hex, &siglen, tcid);
            bool ok = jws_verify(key.alg, key.pkey, msg, msglen, sig, siglen);
            free(msg);
            free(sig);
            total++;
            if (strcmp(result, "valid") == 0) {
                if (ok)
                    valid_ok++;
                else
                    tclist_add(&wrong, tcid, "%s: valid, not verified", rel);
            } else if (ok) {
                tclist_add(&wrong, tcid, "%s: %s, verified", rel, result);
            } else if (strcmp(result, "acceptable") == 0) {
                acceptable_rejected++;
            } else {
                ck_assert_msg(strcmp(result, "invalid") == 0, "tcId %d: result %s", tcid, result);
                invalid_rejected++;
            }
        }
        jwk_key_clear(&key);
    }
    printf("wycheproof: %s (%s): %u vectors: %u valid verified, %u invalid rejected, "
           "%u acceptable rejected, %u unexpected\n",
           primitive_files[_i].file, jws_alg_name(primitive_files[_i].alg), total, valid_ok,
           invalid_rejected, acceptable_rejected, wrong.count);
    fflush(stdout);

    ck_assert_msg(wrong.count == 0, "%s: %s", rel, wrong.text);
    ck_assert_int_eq(total, json_integer_value(json_object_get(doc, "numberOfTests")));
    ck_assert_int_eq(total, valid_ok + invalid_rejected + acceptable_rejected);
    ck_assert_uint_gt(valid_ok, 0);
    json_decref(doc);
}
END_TEST

/* ---- RFC 7515 / 7520 / 7797 examples ---- */

START_TEST(rfc_jws)
{
    ck_assert_int_eq(jws_init(), 0);
    json_t *doc = load_vectors("rfc/jws_vectors.json");
    unsigned total = 0, accepted_ok = 0, rejected_ok = 0;
    tclist wrong = {0};
    size_t i;
    const json_t *v;
    json_array_foreach(json_object_get(doc, "vectors"), i, v)
    {
        const char *id = json_string_value(json_object_get(v, "id"));
        const char *alg_name = json_string_value(json_object_get(v, "alg"));
        const json_t *compact = json_object_get(v, "compact");
        const json_t *jwk = json_object_get(v, "jwk_public");
        ck_assert_msg(id != NULL && alg_name != NULL && json_is_string(compact),
                      "vector %zu is incomplete", i);
        jws_alg vector_alg = jws_alg_from_name(alg_name, strlen(alg_name));
        /* Accepted: a valid signature under an algorithm fhirpam has, and
         * the payload in the token (not detached, not RFC 7797 b64:false). */
        bool expect = json_is_true(json_object_get(v, "valid")) && vector_alg != JWS_ALG_INVALID &&
                      json_object_get(v, "signing_payload") == NULL;

        keyset ks;
        memset(&ks, 0, sizeof ks);
        ks.offered = 1;
        if (json_is_object(jwk) &&
            jwk_import(jwk, &default_limits, vector_alg, &ks.key[0], ks.why, sizeof ks.why) == 0) {
            /* The only key; a header kid (RFC 7520) must then be its kid. */
            const char *kid = json_string_value(json_object_get(jwk, "kid"));
            ks.kid[0] = kid != NULL ? strdup(kid) : NULL;
            ck_assert(kid == NULL || ks.kid[0] != NULL);
            ks.n = 1;
        }
        ck_assert_msg(!expect || ks.n == 1, "%s: key refused: %s", id, ks.why);

        jws_failure why;
        bool accepted = compact_accepted(compact, &ks, &why);
        total++;
        if (accepted == expect)
            expect ? accepted_ok++ : rejected_ok++;
        else if (accepted)
            tclist_add(&wrong, (int)i, "%s: %s accepted", id, alg_name);
        else
            tclist_add(&wrong, (int)i, "%s: %s rejected: %s: %s", id, alg_name, why.reason,
                       why.text);
        keyset_free(&ks);
    }
    printf("rfc: %u JWS vectors: %u valid RS256/ES256/PS384 accepted, %u rejected as expected "
           "(HS256, ES512, none, modified payload, DER signature, detached, b64:false), "
           "%u unexpected\n",
           total, accepted_ok, rejected_ok, wrong.count);
    fflush(stdout);

    ck_assert_msg(wrong.count == 0, "RFC vectors (index, not tcId): %s", wrong.text);
    ck_assert_uint_eq(accepted_ok, 4); /* RFC 7515 A.2, A.3; RFC 7520 4.1, 4.2 */
    ck_assert_uint_eq(total, accepted_ok + rejected_ok);
    json_decref(doc);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vectors");
    TCase *tc = tcase_create("vectors");
    /* Hundreds of RSA verifications, slower under ASan. */
    tcase_set_timeout(tc, 100);
    tcase_add_test(tc, wycheproof_jws);
    tcase_add_test(tc, wycheproof_jwk);
    tcase_add_loop_test(tc, wycheproof_primitives, 0,
                        (int)(sizeof primitive_files / sizeof primitive_files[0]));
    tcase_add_test(tc, rfc_jws);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
