/*
 * isolate_wire.h - the frames between the core and an isolation worker
 * (isolate.c, isolate_serve.c) on their socket pair.
 *
 * A frame is a 4-byte length (host order: both ends are the same binary's
 * code on one machine) and that many bytes of fields, each a 1-byte tag, a
 * 4-byte length and the bytes. Numbers travel as decimal text, so a field is
 * always bytes. The reader checks every length against the frame, and a
 * frame against a maximum, before it reads: what a worker sends is read as
 * untrusted input (the module inside it can write anything to the socket).
 */
#ifndef FHIRPAM_CORE_ISOLATE_WIRE_H
#define FHIRPAM_CORE_ISOLATE_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_MAX_FRAME (64u * 1024 * 1024)

enum wire_tag {
    /* the worker's answer to the start-up frame */
    W_STATUS = 1, /* "ok" or "error" */
    W_TEXT,       /* the error */
    /* start-up: which line of which configuration to open */
    W_CONFIG_PATH,
    W_CONFIG_TEXT,
    W_STACK,
    W_INDEX,
    W_MODULE,
    W_FHIR_BASE,
    /* a call: the request and the state modules before this one left */
    W_METHOD,
    W_URL,
    W_HEADER_NAME, /* pairs: name, then value */
    W_HEADER_VALUE,
    W_BODY,
    W_CURRENT,
    W_CERT_PEM,
    W_CERT_THUMBPRINT,
    W_DEVICE_NAME, /* pairs */
    W_DEVICE_VALUE,
    W_NOW,
    W_STACK_NAME,
    W_CLAIMS, /* the verified claims, JSON */
    W_TOKEN_SCHEME,
    W_ACCESS_TOKEN,
    W_IF_NONE_EXIST,
    W_ATTR_NAME, /* pairs, both ways: the attributes before / after the call */
    W_ATTR_VALUE,
    /* the answer */
    W_CODE,
    W_REASON_WORD,
    W_REASON_TEXT,
    W_CHALLENGE_SCOPE,
    W_CHALLENGE_SCHEME,
    W_CHALLENGE_ERROR,
    W_DPOP_NONCE,
    W_OBLIGATION_TYPE, /* pairs: type, then its params (a JSON object) */
    W_OBLIGATION_PARAMS,
    W_BINDING, /* the bindings the module reported (fhirpam_binding bits) */
};

/* A frame being written. */
typedef struct wire_out {
    char *buf;
    size_t len, cap;
    bool failed; /* out of memory, or past WIRE_MAX_FRAME */
} wire_out;

void wire_begin(wire_out *w);
void wire_put(wire_out *w, enum wire_tag tag, const void *data, size_t len);
/* Nothing for NULL. */
void wire_put_str(wire_out *w, enum wire_tag tag, const char *s);
void wire_put_int(wire_out *w, enum wire_tag tag, long long v);
void wire_free(wire_out *w);

/* A frame being read: wire_next() gives its fields in order, false at the
 * end or, with bad set, at a malformed field. */
typedef struct wire_in {
    const char *p, *end;
    bool bad;
} wire_in;

typedef struct wire_field {
    enum wire_tag tag;
    const char *data;
    size_t len;
} wire_field;

bool wire_next(wire_in *in, wire_field *f);
/* The field as a NUL-terminated copy (the caller frees), NULL when out of
 * memory or when it holds a NUL byte. */
char *wire_string(const wire_field *f);
/* The field as a decimal integer; false when it is not one. */
bool wire_int(const wire_field *f, long long *out);

/* The monotonic clock in microseconds, for deadlines. */
uint64_t wire_now_us(void);

enum wire_status { WIRE_OK = 0, WIRE_EOF, WIRE_TIMEOUT, WIRE_ERROR };

/* Send frame w whole on fd, or receive one (a buffer of *len bytes the
 * caller frees, with the length prefix removed), by deadline_us (monotonic
 * microseconds; 0: no deadline). fd may be non-blocking. */
enum wire_status wire_send(int fd, const wire_out *w, uint64_t deadline_us);
enum wire_status wire_receive(int fd, char **frame, size_t *len, uint64_t deadline_us);

#endif
