/*
 * token_cmd.c - `fhirpam token keygen` writes a private key (PEM) and the
 * matching public JWKS; `fhirpam token sign` turns a claims JSON into a
 * compact JWS with that key. For demos and tests: a real deployment's tokens
 * come from its authorization server.
 */
#include "token_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jws.h"
#include "mint.h"

#define CLAIMS_MAX_BYTES (64 * 1024)

static void usage(FILE *out)
{
    fputs("usage:\n"
          "  fhirpam token keygen --alg RS256|PS256|ES256|ES384 --kid KID\n"
          "                       --private-key-out FILE --jwks-out FILE [--bits N]\n"
          "  fhirpam token sign --key FILE --kid KID [--alg ALG] [--typ TYP]\n"
          "                     --claims FILE|-      (the token on stdout)\n"
          "  fhirpam token jkt --key FILE            (RFC 7638 thumbprint of its public key)\n"
          "  fhirpam token dpop --key FILE --htm METHOD --htu URL [--token TOKEN]\n"
          "                     [--nonce N] [--iat T] [--jti J]   (a DPoP proof, RFC 9449)\n",
          out);
}

static int write_new_file(const char *path, mode_t mode, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
        fprintf(stderr, "fhirpam token: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t len = strlen(text);
    int rc = write(fd, text, len) == (ssize_t)len ? 0 : -1;
    if (close(fd) != 0 || rc != 0) {
        fprintf(stderr, "fhirpam token: %s: write failed\n", path);
        return -1;
    }
    return 0;
}

static int keygen(int argc, char **argv)
{
    const char *alg = NULL, *kid = NULL, *key_out = NULL, *jwks_out = NULL;
    long bits = 2048;
    static const struct option opts[] = {{"alg", required_argument, NULL, 'a'},
                                         {"kid", required_argument, NULL, 'k'},
                                         {"private-key-out", required_argument, NULL, 'p'},
                                         {"jwks-out", required_argument, NULL, 'j'},
                                         {"bits", required_argument, NULL, 'b'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'a':
            alg = optarg;
            break;
        case 'k':
            kid = optarg;
            break;
        case 'p':
            key_out = optarg;
            break;
        case 'j':
            jwks_out = optarg;
            break;
        case 'b':
            bits = strtol(optarg, NULL, 10);
            break;
        default:
            usage(stderr);
            return 1;
        }
    }
    if (alg == NULL || kid == NULL || key_out == NULL || jwks_out == NULL || bits < 1024 ||
        bits > 16384) {
        usage(stderr);
        return 1;
    }
    EVP_PKEY *key = mint_keygen(alg, (unsigned)bits);
    if (key == NULL) {
        fprintf(stderr, "fhirpam token: cannot make a key for '%s'\n", alg);
        return 1;
    }
    int rc = 1;
    char *pem = NULL, *jwks_text = NULL;
    BIO *bio = BIO_new(BIO_s_mem());
    json_t *jwk = mint_public_jwk(key, kid, alg);
    json_t *jwks = json_pack("{s:[o]}", "keys", jwk);
    if (bio == NULL || jwks == NULL ||
        PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1)
        goto done;
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    pem = strndup(data, (size_t)n);
    jwks_text = json_dumps(jwks, JSON_INDENT(2));
    if (pem != NULL && jwks_text != NULL && write_new_file(key_out, 0600, pem) == 0 &&
        write_new_file(jwks_out, 0644, jwks_text) == 0)
        rc = 0;
done:
    free(pem);
    free(jwks_text);
    json_decref(jwks);
    BIO_free(bio);
    EVP_PKEY_free(key);
    return rc;
}

static char *read_all(const char *path, size_t max)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    if (f != stdin)
        fclose(f);
    if (buf == NULL || n > max) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

static const char *default_alg(EVP_PKEY *key)
{
    if (EVP_PKEY_is_a(key, "RSA"))
        return "RS256";
    return EVP_PKEY_get_bits(key) == 384 ? "ES384" : "ES256";
}

static int sign(int argc, char **argv)
{
    const char *key_path = NULL, *kid = NULL, *alg = NULL, *typ = "at+jwt", *claims_path = NULL;
    static const struct option opts[] = {
        {"key", required_argument, NULL, 'K'},    {"kid", required_argument, NULL, 'k'},
        {"alg", required_argument, NULL, 'a'},    {"typ", required_argument, NULL, 't'},
        {"claims", required_argument, NULL, 'c'}, {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'K':
            key_path = optarg;
            break;
        case 'k':
            kid = optarg;
            break;
        case 'a':
            alg = optarg;
            break;
        case 't':
            typ = optarg;
            break;
        case 'c':
            claims_path = optarg;
            break;
        default:
            usage(stderr);
            return 1;
        }
    }
    if (key_path == NULL || kid == NULL || claims_path == NULL) {
        usage(stderr);
        return 1;
    }
    FILE *kf = fopen(key_path, "r");
    EVP_PKEY *key = kf ? PEM_read_PrivateKey(kf, NULL, NULL, NULL) : NULL;
    if (kf)
        fclose(kf);
    if (key == NULL) {
        fprintf(stderr, "fhirpam token: %s: not a PEM private key\n", key_path);
        return 1;
    }
    int rc = 1;
    char *claims_text = read_all(claims_path, CLAIMS_MAX_BYTES);
    json_t *claims = claims_text ? json_loads(claims_text, JSON_REJECT_DUPLICATES, NULL) : NULL;
    char *payload = claims ? json_dumps(claims, JSON_COMPACT) : NULL;
    json_t *header =
        json_pack("{s:s, s:s, s:s}", "alg", alg ? alg : default_alg(key), "typ", typ, "kid", kid);
    char *header_text = header ? json_dumps(header, JSON_COMPACT) : NULL;
    if (!json_is_object(claims)) {
        fprintf(stderr, "fhirpam token: the claims are not a JSON object\n");
    } else if (payload != NULL && header_text != NULL) {
        char *token = mint_token(key, alg ? alg : default_alg(key), header_text, payload);
        if (token != NULL) {
            printf("%s\n", token);
            rc = 0;
        } else {
            fprintf(stderr, "fhirpam token: signing failed\n");
        }
        free(token);
    }
    free(header_text);
    json_decref(header);
    free(payload);
    json_decref(claims);
    free(claims_text);
    EVP_PKEY_free(key);
    return rc;
}

static EVP_PKEY *read_key(const char *path)
{
    FILE *f = fopen(path, "r");
    EVP_PKEY *key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    if (key == NULL)
        fprintf(stderr, "fhirpam token: %s: not a PEM private key\n", path);
    return key;
}

/* The public JWK of key as a proof header carries it: no kid, use or alg. */
static json_t *bare_jwk(EVP_PKEY *key)
{
    json_t *jwk = mint_public_jwk(key, "x", NULL);
    if (jwk != NULL) {
        json_object_del(jwk, "kid");
        json_object_del(jwk, "use");
    }
    return jwk;
}

static int jkt(int argc, char **argv)
{
    static const struct option opts[] = {{"key", required_argument, NULL, 'K'}, {NULL, 0, NULL, 0}};
    const char *key_path = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c != 'K') {
            usage(stderr);
            return 1;
        }
        key_path = optarg;
    }
    EVP_PKEY *key = key_path ? read_key(key_path) : NULL;
    if (key == NULL)
        return 1;
    json_t *jwk = bare_jwk(key);
    char out[48];
    int rc = jwk != NULL && jwk_thumbprint(jwk, out) == 0 ? 0 : 1;
    if (rc == 0)
        printf("%s\n", out);
    json_decref(jwk);
    EVP_PKEY_free(key);
    return rc;
}

static int dpop(int argc, char **argv)
{
    const char *key_path = NULL, *htm = NULL, *htu = NULL, *token = NULL, *nonce = NULL;
    const char *iat = NULL, *jti = NULL;
    static const struct option opts[] = {
        {"key", required_argument, NULL, 'K'},   {"htm", required_argument, NULL, 'm'},
        {"htu", required_argument, NULL, 'u'},   {"token", required_argument, NULL, 't'},
        {"nonce", required_argument, NULL, 'n'}, {"iat", required_argument, NULL, 'i'},
        {"jti", required_argument, NULL, 'j'},   {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        const char **slot = c == 'K'   ? &key_path
                            : c == 'm' ? &htm
                            : c == 'u' ? &htu
                            : c == 't' ? &token
                            : c == 'n' ? &nonce
                            : c == 'i' ? &iat
                            : c == 'j' ? &jti
                                       : NULL;
        if (slot == NULL) {
            usage(stderr);
            return 1;
        }
        *slot = optarg;
    }
    if (key_path == NULL || htm == NULL || htu == NULL) {
        usage(stderr);
        return 1;
    }
    EVP_PKEY *key = read_key(key_path);
    if (key == NULL)
        return 1;
    const char *alg = EVP_PKEY_is_a(key, "RSA") ? "PS256" : "ES256";
    json_t *header =
        json_pack("{s:s,s:s,s:o}", "typ", "dpop+jwt", "alg", alg, "jwk", bare_jwk(key));
    unsigned char random_id[16];
    RAND_bytes(random_id, sizeof random_id);
    char *random_jti = mint_b64url(random_id, sizeof random_id);
    json_t *claims =
        json_pack("{s:s,s:s,s:s,s:I}", "jti", jti ? jti : random_jti, "htm", htm, "htu", htu, "iat",
                  (json_int_t)(iat ? strtoll(iat, NULL, 10) : (long long)time(NULL)));
    if (token != NULL) {
        unsigned char digest[32];
        unsigned int n = 0;
        EVP_Digest(token, strlen(token), digest, &n, EVP_sha256(), NULL);
        char *ath = mint_b64url(digest, 32);
        json_object_set_new(claims, "ath", json_string(ath));
        free(ath);
    }
    if (nonce != NULL)
        json_object_set_new(claims, "nonce", json_string(nonce));
    char *h = json_dumps(header, JSON_COMPACT), *p = json_dumps(claims, JSON_COMPACT);
    char *proof = h && p ? mint_token(key, alg, h, p) : NULL;
    int rc = proof ? 0 : 1;
    if (proof)
        printf("%s\n", proof);
    free(proof);
    free(h);
    free(p);
    free(random_jti);
    json_decref(claims);
    json_decref(header);
    EVP_PKEY_free(key);
    return rc;
}

int token_cmd_main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    optind = 1;
    if (strcmp(argv[1], "keygen") == 0)
        return keygen(argc - 1, argv + 1);
    if (strcmp(argv[1], "sign") == 0)
        return sign(argc - 1, argv + 1);
    if (strcmp(argv[1], "jkt") == 0)
        return jkt(argc - 1, argv + 1);
    if (strcmp(argv[1], "dpop") == 0)
        return dpop(argc - 1, argv + 1);
    fprintf(stderr, "fhirpam token: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 1;
}
