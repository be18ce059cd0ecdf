/*
 * ngx_http_fhirpam_replay.c - DPoP proofs seen by any worker of this nginx
 * (RFC 9449 §11.1), in a shared memory zone.
 *
 * device_trust remembers the proofs it accepted, but in the memory of one
 * worker: a proof replayed on a connection to another worker would be
 * accepted again. So after every permit of a request with a DPoP header,
 * the module remembers the proof here and refuses it if any worker has
 * already let it through: the check and the insert are one step under the
 * zone's lock, so two workers racing with the same proof cannot both win.
 *
 * The key is the SHA-256 of the proof's signing input (header "." payload,
 * RFC 7515 §5.1): a replay must send those bytes unchanged, since they are
 * what the signature covers; the signature itself is left out, because an
 * ECDSA signature can be re-encoded without the key (a second valid (r, s)).
 * Only proofs of permitted requests are remembered, so a client cannot fill
 * the zone with proofs that fhirpam refused.
 *
 * A proof is held for `ttl` seconds from its permit; this must be at least
 * device_trust's dpop_window + dpop_skew (the default, 3900 s, covers their
 * largest values). A full zone refuses (503 dpop_replay_full): forgetting a
 * proof still within its window would let it be replayed.
 */
#include "ngx_http_fhirpam.h"

#include <openssl/evp.h>

typedef struct {
    ngx_rbtree_t tree;
    ngx_rbtree_node_t sentinel;
    ngx_queue_t by_age; /* oldest first: entries are held for one ttl */
} replay_shared_t;

typedef struct {
    ngx_rbtree_node_t node; /* key: the digest's first bytes */
    ngx_queue_t age;
    time_t until;
    u_char digest[32];
} replay_entry_t;

typedef struct {
    replay_shared_t *sh;
    ngx_slab_pool_t *shpool;
} replay_zone_t;

static void replay_insert(ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node,
                          ngx_rbtree_node_t *sentinel)
{
    for (;;) {
        ngx_rbtree_node_t **p;
        if (node->key != temp->key)
            p = node->key < temp->key ? &temp->left : &temp->right;
        else
            p = ngx_memcmp(((replay_entry_t *)node)->digest, ((replay_entry_t *)temp)->digest, 32) <
                        0
                    ? &temp->left
                    : &temp->right;
        if (*p == sentinel) {
            *p = node;
            break;
        }
        temp = *p;
    }
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}

static ngx_int_t replay_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    replay_zone_t *z = shm_zone->data, *old = data;
    z->shpool = (ngx_slab_pool_t *)shm_zone->shm.addr;
    if (old != NULL) { /* a reload keeps what the old workers remembered */
        z->sh = old->sh;
        return NGX_OK;
    }
    if (shm_zone->shm.exists) {
        z->sh = z->shpool->data;
        return NGX_OK;
    }
    z->sh = ngx_slab_alloc(z->shpool, sizeof(replay_shared_t));
    if (z->sh == NULL)
        return NGX_ERROR;
    z->shpool->data = z->sh;
    ngx_rbtree_init(&z->sh->tree, &z->sh->sentinel, replay_insert);
    ngx_queue_init(&z->sh->by_age);
    /* ngx_slab's own "no memory" alert would fill the log under load: the
     * refusal says it instead. */
    z->shpool->log_nomem = 0;
    return NGX_OK;
}

ngx_int_t ngx_http_fhirpam_replay_zone(ngx_conf_t *cf, ngx_http_fhirpam_main_conf_t *mcf)
{
    static ngx_str_t name = ngx_string("fhirpam_dpop_replay");
    replay_zone_t *z = ngx_pcalloc(cf->pool, sizeof *z);
    if (z == NULL)
        return NGX_ERROR;
    mcf->replay_zone = ngx_shared_memory_add(cf, &name, mcf->replay_size, &ngx_http_fhirpam_module);
    if (mcf->replay_zone == NULL)
        return NGX_ERROR;
    mcf->replay_zone->init = replay_init_zone;
    mcf->replay_zone->data = z;
    return NGX_OK;
}

/* The signing input of a compact JWS: everything before the last dot. */
static ngx_int_t signing_input(const ngx_str_t *proof, ngx_str_t *out)
{
    u_char *dot = NULL;
    for (size_t i = 0; i < proof->len; i++)
        if (proof->data[i] == '.')
            dot = &proof->data[i];
    if (dot == NULL || dot == proof->data)
        return NGX_ERROR;
    out->data = proof->data;
    out->len = (size_t)(dot - proof->data);
    return NGX_OK;
}

ngx_int_t ngx_http_fhirpam_replay_remember(ngx_http_request_t *r, ngx_http_fhirpam_main_conf_t *mcf,
                                           const ngx_str_t *proof)
{
    ngx_str_t input;
    u_char digest[32];
    unsigned int dlen = 0;
    if (signing_input(proof, &input) != NGX_OK)
        return NGX_ABORT; /* not a JWS, yet permitted: refused, not remembered */
    if (EVP_Digest(input.data, input.len, digest, &dlen, EVP_sha256(), NULL) != 1 || dlen != 32)
        return NGX_ERROR;
    replay_zone_t *z = mcf->replay_zone->data;
    ngx_rbtree_key_t key = (ngx_rbtree_key_t)ngx_crc32_short(digest, 32);
    time_t now = ngx_time();
    ngx_int_t rc = NGX_OK;

    ngx_shmtx_lock(&z->shpool->mutex);
    /* Forget what is past its time, oldest first. */
    while (!ngx_queue_empty(&z->sh->by_age)) {
        replay_entry_t *e = ngx_queue_data(ngx_queue_head(&z->sh->by_age), replay_entry_t, age);
        if (e->until >= now)
            break;
        ngx_queue_remove(&e->age);
        ngx_rbtree_delete(&z->sh->tree, &e->node);
        ngx_slab_free_locked(z->shpool, e);
    }
    ngx_rbtree_node_t *node = z->sh->tree.root, *sentinel = z->sh->tree.sentinel;
    while (node != sentinel) {
        ngx_int_t c = key < node->key   ? -1
                      : key > node->key ? 1
                                        : ngx_memcmp(digest, ((replay_entry_t *)node)->digest, 32);
        if (c == 0) {
            rc = NGX_DECLINED;
            goto done;
        }
        node = c < 0 ? node->left : node->right;
    }
    replay_entry_t *e = ngx_slab_alloc_locked(z->shpool, sizeof *e);
    if (e == NULL) {
        rc = NGX_BUSY;
        goto done;
    }
    e->node.key = key;
    e->until = now + (time_t)mcf->replay_ttl;
    ngx_memcpy(e->digest, digest, 32);
    ngx_rbtree_insert(&z->sh->tree, &e->node);
    ngx_queue_insert_tail(&z->sh->by_age, &e->age);
done:
    ngx_shmtx_unlock(&z->shpool->mutex);
    return rc;
}
