/* denylist.c - see denylist.h. */
#include "denylist.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* No file this large is a deny list. */
#define DENYLIST_MAX_BYTES (1024LL * 1024 * 1024)
#define TIME_MAX           253402300799LL

static const struct {
    const char *name;
    int keys; /* 0, 1 or 2 key fields after ISS */
} kinds[RULE_KINDS] = {
    [RULE_JTI] = {"jti", 1},       [RULE_SUB] = {"sub", 1},
    [RULE_CLIENT] = {"client", 1}, [RULE_SUBCLIENT] = {"subclient", 2},
    [RULE_SID] = {"sid", 1},       [RULE_ISSUER] = {"issuer", 0},
};

const char *rule_kind_name(rule_kind kind)
{
    return kind < RULE_KINDS ? kinds[kind].name : "?";
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes %XX in place; refuses bad escapes, NUL, and overlong fields. */
static int decode_field(char *f, char *err, size_t errlen)
{
    char *out = f;
    for (char *p = f; *p != '\0'; p++) {
        if (*p == '%') {
            int hi = hexval((unsigned char)p[1]), lo = hi < 0 ? -1 : hexval((unsigned char)p[2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                snprintf(err, errlen, "bad %%-escape in '%.40s'", f);
                return -1;
            }
            *out++ = (char)(hi * 16 + lo);
            p += 2;
        } else {
            *out++ = *p;
        }
    }
    *out = '\0';
    if (out - f > DENYLIST_MAX_FIELD) {
        snprintf(err, errlen, "a field is longer than %d bytes", DENYLIST_MAX_FIELD);
        return -1;
    }
    return 0;
}

static int parse_time(const char *s, int64_t *out)
{
    if (*s == '\0' || strlen(s) > 12)
        return -1;
    int64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
    }
    if (v > TIME_MAX)
        return -1;
    *out = v;
    return 0;
}

int rule_parse(char *line, rule *out, char *err, size_t errlen)
{
    char *fields[6];
    int n = 0;
    char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            break;
        if (n == 0 && *p == '#')
            return 0;
        if (n == 6) {
            snprintf(err, errlen, "too many fields");
            return -1;
        }
        fields[n++] = p;
        while (*p != '\0' && *p != ' ' && *p != '\t')
            p++;
        if (*p != '\0')
            *p++ = '\0';
    }
    if (n == 0)
        return 0;
    int kind = -1;
    for (int k = 0; k < RULE_KINDS; k++)
        if (strcmp(fields[0], kinds[k].name) == 0)
            kind = k;
    if (kind < 0) {
        snprintf(err, errlen, "unknown rule '%.20s' (jti, sub, client, subclient, sid, issuer)",
                 fields[0]);
        return -1;
    }
    int want = 3 + kinds[kind].keys;
    if (n != want) {
        snprintf(err, errlen, "a %s rule has %d fields, not %d", kinds[kind].name, want, n);
        return -1;
    }
    for (int i = 1; i < n - 1; i++) {
        if (decode_field(fields[i], err, errlen) != 0)
            return -1;
        if (fields[i][0] == '\0') {
            snprintf(err, errlen, "an empty field");
            return -1;
        }
    }
    if (parse_time(fields[n - 1], &out->time) != 0) {
        snprintf(err, errlen, "'%.20s' is not a time in seconds since the epoch", fields[n - 1]);
        return -1;
    }
    out->kind = (rule_kind)kind;
    out->iss = fields[1];
    out->key1 = kinds[kind].keys >= 1 ? fields[2] : NULL;
    out->key2 = kinds[kind].keys == 2 ? fields[3] : NULL;
    return 1;
}

static size_t encode_field(const char *f, char *buf, size_t buflen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)f; *p; p++) {
        bool escape = *p <= ' ' || *p == '%' || *p == 0x7f;
        if (n + (escape ? 3 : 1) >= buflen)
            return 0;
        if (escape) {
            buf[n++] = '%';
            buf[n++] = hex[*p >> 4];
            buf[n++] = hex[*p & 15];
        } else {
            buf[n++] = (char)*p;
        }
    }
    return n;
}

size_t rule_format(const rule *r, char *buf, size_t buflen)
{
    const char *fields[3] = {r->iss, r->key1, r->key2};
    size_t n = (size_t)snprintf(buf, buflen, "%s", kinds[r->kind].name);
    for (int i = 0; i < 1 + kinds[r->kind].keys; i++) {
        if (n + 2 >= buflen || fields[i] == NULL || fields[i][0] == '\0')
            return 0;
        buf[n++] = ' ';
        size_t m = encode_field(fields[i], buf + n, buflen - n);
        if (m == 0)
            return 0;
        n += m;
    }
    int m = snprintf(buf + n, buflen - n, " %lld\n", (long long)r->time);
    if (m < 0 || (size_t)m >= buflen - n)
        return 0;
    return n + (size_t)m;
}

bool cutoff_covers(int64_t t, double iat, int64_t leeway)
{
    /* iat < T + leeway + 1: the second T counts whole ("at or before T"). */
    return iat < (double)t + (double)leeway + 1.0;
}

bool rule_alive(const rule *r, int64_t now, int64_t leeway, int64_t max_token_lifetime)
{
    if (r->kind == RULE_JTI)
        return r->time + leeway >= now;
    /* The last token covered was issued before T + leeway + 1, lives at
     * most max_token_lifetime and is accepted until its exp + leeway. */
    return r->time + 1 + leeway + max_token_lifetime + leeway > now;
}

/* ---- the table ---- */

typedef struct slot {
    uint64_t hash; /* 0: empty */
    size_t key;    /* offset into the arena */
    uint32_t len;
    int64_t time;
} slot;

struct denylist {
    slot *slots;
    size_t mask, n;
    size_t count[RULE_KINDS];
    char *arena;
    size_t arena_len, arena_cap;
};

/* The key of a rule: the kind, then ISS, KEY1 and KEY2 each ended by NUL
 * (no field holds a NUL). Written into buf; returns its length or 0. */
static size_t make_key(rule_kind kind, const char *iss, const char *k1, const char *k2, char *buf,
                       size_t buflen)
{
    const char *parts[3] = {iss, k1, k2};
    size_t n = 0;
    buf[n++] = (char)('0' + kind);
    for (int i = 0; i < 1 + kinds[kind].keys; i++) {
        if (parts[i] == NULL)
            return 0;
        size_t l = strlen(parts[i]);
        if (n + l + 1 > buflen)
            return 0;
        memcpy(buf + n, parts[i], l + 1);
        n += l + 1;
    }
    return n;
}

static uint64_t hash_key(const char *p, size_t len)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ len;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    uint64_t tail = 0;
    memcpy(&tail, p + i, len - i);
    h = (h ^ tail) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 29;
    return h | 1; /* 0 marks an empty slot */
}

static slot *find_slot(const denylist *l, uint64_t h, const char *key, size_t len)
{
    for (size_t i = h & l->mask;; i = (i + 1) & l->mask) {
        slot *s = &l->slots[i];
        if (s->hash == 0 ||
            (s->hash == h && s->len == len && memcmp(l->arena + s->key, key, len) == 0))
            return s;
    }
}

static int grow_table(denylist *l)
{
    size_t cap = l->mask ? (l->mask + 1) * 2 : 1024;
    slot *fresh = calloc(cap, sizeof *fresh);
    if (fresh == NULL)
        return -1;
    slot *old = l->slots;
    size_t old_cap = l->mask ? l->mask + 1 : 0;
    l->slots = fresh;
    l->mask = cap - 1;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].hash == 0)
            continue;
        size_t j = old[i].hash & l->mask;
        while (fresh[j].hash != 0)
            j = (j + 1) & l->mask;
        fresh[j] = old[i];
    }
    free(old);
    return 0;
}

static int insert(denylist *l, const rule *r)
{
    char key[1 + 3 * (DENYLIST_MAX_FIELD + 1)];
    size_t len = make_key(r->kind, r->iss, r->key1, r->key2, key, sizeof key);
    if (len == 0)
        return -1;
    if ((l->n + 1) * 2 > l->mask + 1 && grow_table(l) != 0)
        return -1;
    uint64_t h = hash_key(key, len);
    slot *s = find_slot(l, h, key, len);
    if (s->hash != 0) {
        if (r->time > s->time)
            s->time = r->time; /* latest wins */
        return 0;
    }
    if (l->arena_len + len > l->arena_cap) {
        size_t cap = l->arena_cap ? l->arena_cap * 2 : 65536;
        while (cap < l->arena_len + len)
            cap *= 2;
        char *a = realloc(l->arena, cap);
        if (a == NULL)
            return -1;
        l->arena = a;
        l->arena_cap = cap;
    }
    memcpy(l->arena + l->arena_len, key, len);
    *s = (slot){h, l->arena_len, (uint32_t)len, r->time};
    l->arena_len += len;
    l->n++;
    l->count[r->kind]++;
    return 0;
}

bool denylist_find(const denylist *l, rule_kind kind, const char *iss, const char *key1,
                   const char *key2, int64_t *time)
{
    if (l->count[kind] == 0)
        return false;
    char key[1 + 3 * (DENYLIST_MAX_FIELD + 1)];
    size_t len = make_key(kind, iss, key1, key2, key, sizeof key);
    if (len == 0)
        return false; /* a claim longer than any rule's field cannot match one */
    const slot *s = find_slot(l, hash_key(key, len), key, len);
    if (s->hash == 0)
        return false;
    *time = s->time;
    return true;
}

size_t denylist_size(const denylist *l)
{
    return l->n;
}

size_t denylist_count(const denylist *l, rule_kind kind)
{
    return l->count[kind];
}

void denylist_free(denylist *l)
{
    if (l == NULL)
        return;
    free(l->slots);
    free(l->arena);
    free(l);
}

/* How long a reader waits for a writer's exclusive lock. */
#define DENYLIST_LOCK_TRIES    20
#define DENYLIST_LOCK_PAUSE_MS 50

int denylist_read(const char *path, denylist_file *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    /* O_NONBLOCK: a FIFO put in the file's place must not hang the watcher
     * (and fhirpam_close waiting for it); it is refused below. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    int rc = -1;
    struct stat *st = &out->st;
    /* Shared lock: `fhirpam revoke` appends under an exclusive one, for one
     * write and fsync. Anyone who can read the file can take that lock too,
     * and hold it: wait a bounded time, then say so (the caller tries again
     * later) rather than stop every re-read behind it. */
    int locked = -1;
    for (int tries = 0; tries < DENYLIST_LOCK_TRIES && locked != 0; tries++) {
        if ((locked = flock(fd, LOCK_SH | LOCK_NB)) != 0 && errno == EWOULDBLOCK) {
            struct timespec pause = {0, DENYLIST_LOCK_PAUSE_MS * 1000000L};
            nanosleep(&pause, NULL);
        } else if (locked != 0 && errno != EINTR) {
            break;
        }
    }
    if (locked != 0 && errno == EWOULDBLOCK) {
        snprintf(err, errlen,
                 "%s: locked by another process for over %d ms (a writer that does not finish)",
                 path, DENYLIST_LOCK_TRIES * DENYLIST_LOCK_PAUSE_MS);
        rc = DENYLIST_BUSY;
        goto done;
    }
    if (locked != 0 || fstat(fd, st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(st->st_mode) || (st->st_uid != 0 && st->st_uid != geteuid()) ||
        (st->st_mode & 022) != 0) {
        snprintf(err, errlen,
                 "%s: must be a regular file owned by root or this user, not group- or "
                 "world-writable (mode %04o, uid %u)",
                 path, (unsigned)(st->st_mode & 07777), (unsigned)st->st_uid);
        goto done;
    }
    if (st->st_size > DENYLIST_MAX_BYTES) {
        snprintf(err, errlen, "%s: larger than %lld bytes", path, DENYLIST_MAX_BYTES);
        goto done;
    }
    char *buf = malloc((size_t)st->st_size + 1);
    size_t got = 0;
    while (buf != NULL && got < (size_t)st->st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st->st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (buf == NULL || got != (size_t)st->st_size) {
        snprintf(err, errlen, "%s: cannot read the file", path);
        free(buf);
        goto done;
    }
    buf[got] = '\0';
    out->text = buf;
    out->len = got;
    rc = 0;
done:
    close(fd);
    return rc;
}

int denylist_parse(char *text, size_t len, const char *path,
                   int (*on_rule)(void *cookie, const rule *r, size_t line),
                   void (*on_bad)(void *cookie, const char *message), void *cookie, char *err,
                   size_t errlen)
{
    int bad = 0;
    size_t line_no = 0;
    char message[1200];
    for (char *p = text; p < text + len;) {
        line_no++;
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        char *end = nl != NULL ? nl : text + len;
        char why[160] = "";
        rule r;
        int got = 0;
        if (nl == NULL) {
            snprintf(why, sizeof why, "the last line has no newline (being written?)");
        } else if (memchr(p, '\0', (size_t)(end - p)) != NULL) {
            snprintf(why, sizeof why, "a NUL byte");
        } else {
            *nl = '\0';
            got = rule_parse(p, &r, why, sizeof why);
        }
        if (why[0] != '\0') {
            snprintf(message, sizeof message, "%s:%zu: %s", path, line_no, why);
            if (on_bad == NULL) {
                snprintf(err, errlen, "%s", message);
                return -1;
            }
            on_bad(cookie, message);
            bad++;
        } else if (got == 1 && on_rule != NULL && on_rule(cookie, &r, line_no) != 0) {
            snprintf(err, errlen, "%s:%zu: out of memory", path, line_no);
            return -1;
        }
        p = end + 1;
    }
    return bad;
}

typedef struct build_state {
    denylist *list;
    const denylist_limits *limits;
} build_state;

static int add_if_alive(void *cookie, const rule *r, size_t line)
{
    (void)line;
    build_state *b = cookie;
    if (!rule_alive(r, b->limits->now, b->limits->leeway, b->limits->max_token_lifetime))
        return 0;
    return insert(b->list, r);
}

denylist *denylist_build(char *text, size_t len, const char *path, const denylist_limits *limits,
                         char *err, size_t errlen)
{
    denylist *l = calloc(1, sizeof *l);
    if (l == NULL || grow_table(l) != 0) {
        snprintf(err, errlen, "%s: out of memory", path);
        denylist_free(l);
        return NULL;
    }
    build_state b = {l, limits};
    if (denylist_parse(text, len, path, add_if_alive, NULL, &b, err, errlen) != 0) {
        denylist_free(l);
        return NULL;
    }
    return l;
}

denylist *denylist_load(const char *path, const denylist_limits *limits, char *err, size_t errlen)
{
    denylist_file f;
    if (denylist_read(path, &f, err, errlen) != 0)
        return NULL;
    denylist *l = denylist_build(f.text, f.len, path, limits, err, errlen);
    free(f.text);
    return l;
}
