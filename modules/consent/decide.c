/*
 * decide.c - see decide.h. consent.md §3 and the module's README:
 * applicability, then the provision tree (each rule's conditions AND across
 * elements, OR within one; a child only when its parent applies; the
 * deepest applying rule decides), then several Consents combined.
 *
 * Conditions are three-valued and a doubt always resolves toward deny:
 * a condition the module cannot check (an actor not in the store, no
 * purpose of use, data/dataPeriod/expression) makes a deny rule apply and a
 * permit rule not apply. A content restriction (securityLabel, class, code)
 * that only the response can show becomes, on a deny rule under a permit,
 * a redact obligation (or a deny with redact = "deny"); on a permit rule it
 * never grants.
 */
#include "decide.h"

#include <string.h>

typedef enum match {
    MATCH_NO = 0,
    MATCH_YES,
    MATCH_UNKNOWN, /* cannot tell: see above */
    MATCH_FILTER,  /* depends on each resource of the response */
} match;

static bool in_set(const char *const *set, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(set[i], key) == 0)
            return true;
    return false;
}

static bool overlap(const code_set *s, const char *const *keys, size_t n)
{
    for (uint32_t i = 0; i < s->n; i++)
        if (in_set(keys, n, s->codes[i]))
            return true;
    return false;
}

static bool ids_overlap(const identifier_set *a, const identifier_set *b)
{
    if (a == NULL || b == NULL)
        return false;
    for (uint32_t i = 0; i < a->n; i++)
        if (in_set(b->ids, b->n, a->ids[i]))
            return true;
    return false;
}

/* Whether reference names a resource of the fhirUser's type. */
static bool same_type(const char *reference, const char *fhir_user)
{
    const char *a = strchr(reference, '/'), *b = strchr(fhir_user, '/');
    return a != NULL && b != NULL && a - reference == b - fhir_user &&
           strncmp(reference, fhir_user, (size_t)(a - reference)) == 0;
}

/* consent.md §3 rule 5: an actor the module cannot place must neither
 * silently match nor silently not match. */
static match actor_match(const provision *p, const consent_query *q, const char **why)
{
    bool unresolved = false, beyond_user = false;
    for (uint32_t i = 0; i < p->nactors; i++) {
        const actor *a = &p->actors[i];
        if (q->fhir_user != NULL && a->reference != NULL && strcmp(q->fhir_user, a->reference) == 0)
            return MATCH_YES;
        if (ids_overlap(&a->ids, q->client_ids) || ids_overlap(&a->ids, q->user_ids))
            return MATCH_YES;
        unresolved = unresolved || !a->resolved;
        beyond_user = beyond_user || q->fhir_user == NULL || a->reference == NULL ||
                      !same_type(a->reference, q->fhir_user);
    }
    if (unresolved) {
        *why = "an actor it names is not in the consent store";
        return MATCH_UNKNOWN;
    }
    /* Without a registry entry, the party behind the client (its
     * organisation, say) is unknown: only an actor of the fhirUser's own
     * type can be ruled out. */
    if (q->client_ids == NULL && beyond_user) {
        *why = "the client is not in the client registry, so whom it acts for is unknown";
        return MATCH_UNKNOWN;
    }
    return MATCH_NO;
}

/* The conditions on who, why, when and how (not which resources). */
static match conditions_match(const provision *p, const consent_query *q, const char **why)
{
    match m = MATCH_YES;
    if (p->has_period && (q->now < p->period_first || q->now >= p->period_after))
        return MATCH_NO;
    if (p->action.n > 0 && !in_set(p->action.codes, p->action.n, q->action_key))
        return MATCH_NO;
    if (p->purpose.n > 0) {
        if (q->npurposes == 0) {
            m = MATCH_UNKNOWN;
            *why = "the request has no purpose of use";
        } else if (!overlap(&p->purpose, q->purposes, q->npurposes)) {
            return MATCH_NO;
        }
    }
    if (p->nactors > 0) {
        const char *actor_why = NULL;
        match a = actor_match(p, q, &actor_why);
        if (a == MATCH_NO)
            return MATCH_NO;
        if (a == MATCH_UNKNOWN) {
            m = MATCH_UNKNOWN;
            *why = actor_why;
        }
    }
    if (p->uncheckable != NULL) {
        m = MATCH_UNKNOWN;
        *why = p->uncheckable;
    }
    return m;
}

static const resource_codes *content(consent_query *q)
{
    if (!q->content_loaded) {
        q->content_loaded = true;
        if (q->load_content != NULL)
            q->load_content(q);
    }
    return &q->content;
}

/* Which resources: class against the request's type; labels and codes
 * against the stored resource when the host passed it. */
static match content_match(const provision *p, consent_query *q)
{
    match m = MATCH_YES;
    if (p->class_.n > 0) {
        bool other_system = false, hit = false;
        for (uint32_t i = 0; i < p->class_.n; i++) {
            const char *c = p->class_.codes[i];
            if (strncmp(c, SYS_RESOURCE_TYPES "|", sizeof SYS_RESOURCE_TYPES) != 0)
                other_system = true; /* a profile, a document type: per resource */
            else if (q->class_key != NULL && strcmp(c, q->class_key) == 0)
                hit = true;
        }
        if (!hit && q->class_key != NULL && !other_system)
            return MATCH_NO;
        if (!hit)
            m = MATCH_FILTER;
    }
    if (p->security_label.n > 0) {
        const resource_codes *rc = content(q);
        if (rc->known && !overlap(&p->security_label, rc->labels, rc->nlabels))
            return MATCH_NO;
        if (!rc->known)
            m = MATCH_FILTER;
    }
    if (p->code.n > 0) {
        const resource_codes *rc = content(q);
        if (rc->known && !overlap(&p->code, rc->codes, rc->ncodes))
            return MATCH_NO;
        if (!rc->known)
            m = MATCH_FILTER;
    }
    return m;
}

static match provision_match(const provision *p, consent_query *q, const char **why)
{
    match who = conditions_match(p, q, why);
    if (who == MATCH_NO)
        return MATCH_NO;
    match which = content_match(p, q);
    if (which == MATCH_NO)
        return MATCH_NO;
    /* A restriction to some resources under a doubt on who/why: removing
     * those resources covers both readings. */
    if (which == MATCH_FILTER)
        return MATCH_FILTER;
    return who;
}

typedef struct walk {
    const decide_options *o;
    consent_query *q;
    outcome *out; /* collects redactions */
    bool overflow;
} walk;

static void add_redact(walk *w, const char *text)
{
    for (size_t i = 0; i < w->out->nredact; i++)
        if (w->out->redact[i] == text)
            return;
    if (w->out->nredact == OUTCOME_MAX_REDACT)
        w->overflow = true;
    else
        w->out->redact[w->out->nredact++] = text;
}

typedef struct verdict {
    rule_type decision;
    const provision *by;
    const char *why;
    const char *reason;
} verdict;

/* node applies; its deepest applying descendants decide. */
static verdict evaluate(walk *w, const provision *node, const char *why, const char *reason)
{
    verdict own = {node->type, node, why, reason}, deny = {0}, permit = {0};
    for (uint32_t i = 0; i < node->nchildren; i++) {
        const provision *c = &node->children[i];
        const char *cwhy = NULL;
        match m = provision_match(c, w->q, &cwhy);
        if (m == MATCH_NO)
            continue;
        if (m == MATCH_FILTER) {
            if (c->type != RULE_DENY || node->type != RULE_PERMIT)
                continue; /* unknown content never grants */
            if (!w->o->redact_deny) {
                add_redact(w, c->redact_text);
                continue;
            }
            if (deny.decision == RULE_NONE)
                deny = (verdict){RULE_DENY, c,
                                 "it restricts resources by security label, class or code and "
                                 "redact = \"deny\"",
                                 "consent_redact_deny"};
            continue;
        }
        if (m == MATCH_UNKNOWN && c->type != RULE_DENY)
            continue;
        verdict v = evaluate(w, c, m == MATCH_UNKNOWN ? cwhy : NULL,
                             m == MATCH_UNKNOWN ? "consent_unresolved" : "consent_deny");
        if (v.decision == RULE_DENY && deny.decision == RULE_NONE)
            deny = v;
        else if (v.decision == RULE_PERMIT && permit.decision == RULE_NONE)
            permit = v;
    }
    if (deny.decision != RULE_NONE)
        return deny;
    if (permit.decision != RULE_NONE)
        return permit;
    if (own.decision == RULE_DENY && own.reason == NULL)
        own.reason = "consent_deny";
    return own;
}

/* One Consent. */
static void decide_consent(const decide_options *o, const consent *c, consent_query *q,
                           outcome *out)
{
    outcome_reset(out);
    out->consent = c;
    if (c->has_period && (q->now < c->period_first || q->now >= c->period_after))
        return;
    out->provision = &c->root;
    if (c->base == RULE_NONE) {
        out->kind = OUTCOME_DENY;
        out->reason = "consent_not_computable";
        out->why = c->version[1] == '5' ? "it has no decision"
                                        : "it has no provision.type and no OPTIN/OPTOUT policyRule";
        return;
    }
    const char *why = NULL;
    match m = provision_match(&c->root, q, &why);
    walk w = {o, q, out, false};
    switch (m) {
    case MATCH_NO:
        return;
    case MATCH_UNKNOWN:
        out->kind = OUTCOME_DENY;
        out->reason = "consent_unresolved";
        out->why = why;
        return;
    case MATCH_FILTER:
        if (c->base != RULE_DENY)
            return; /* a permit of some resources only: not for an unknown set */
        if (o->redact_deny) {
            out->kind = OUTCOME_DENY;
            out->reason = "consent_redact_deny";
            out->why = "it restricts resources by security label, class or code and redact = "
                       "\"deny\"";
            return;
        }
        out->kind = OUTCOME_FILTER;
        add_redact(&w, c->root.redact_text);
        break;
    case MATCH_YES: {
        verdict v = evaluate(&w, &c->root, NULL, NULL);
        out->kind = v.decision == RULE_DENY ? OUTCOME_DENY : OUTCOME_PERMIT;
        out->provision = v.by;
        out->why = v.why;
        out->reason = v.decision == RULE_DENY ? v.reason : "consent_permit";
        break;
    }
    }
    if (w.overflow) {
        out->kind = OUTCOME_DENY;
        out->reason = "consent_too_many_redactions";
        out->why = "it would need more than 32 redact rules";
    }
    if (out->kind == OUTCOME_DENY)
        out->nredact = 0;
}

static void add_redactions(outcome *acc, const outcome *next)
{
    for (size_t i = 0; i < next->nredact; i++) {
        bool seen = false;
        for (size_t j = 0; j < acc->nredact && !seen; j++)
            seen = acc->redact[j] == next->redact[i];
        if (seen)
            continue;
        if (acc->nredact == OUTCOME_MAX_REDACT) {
            acc->kind = OUTCOME_DENY;
            acc->reason = "consent_too_many_redactions";
            acc->why = "it would need more than 32 redact rules";
            acc->nredact = 0;
            return;
        }
        acc->redact[acc->nredact++] = next->redact[i];
    }
}

void outcome_reset(outcome *o)
{
    /* Not the redact array: only its first nredact entries are ever read. */
    o->kind = OUTCOME_NONE;
    o->consent = NULL;
    o->provision = NULL;
    o->why = NULL;
    o->reason = NULL;
    o->nredact = 0;
}

static void outcome_copy(outcome *to, const outcome *from)
{
    to->kind = from->kind;
    to->consent = from->consent;
    to->provision = from->provision;
    to->why = from->why;
    to->reason = from->reason;
    to->nredact = from->nredact;
    memcpy(to->redact, from->redact, from->nredact * sizeof *from->redact);
}

void outcome_merge(outcome *acc, const outcome *next)
{
    if (acc->kind == OUTCOME_DENY || next->kind == OUTCOME_NONE)
        return;
    if (next->kind == OUTCOME_DENY || acc->kind == OUTCOME_NONE) {
        outcome_copy(acc, next);
        return;
    }
    /* PERMIT and FILTER: the stronger kind names the decision, redactions
     * add up. */
    if (next->kind > acc->kind) {
        acc->kind = next->kind;
        acc->consent = next->consent;
        acc->provision = next->provision;
        acc->why = next->why;
        acc->reason = next->reason;
    }
    add_redactions(acc, next);
}

static bool same_date(const consent *a, const consent *b)
{
    return a->has_date == b->has_date && (!a->has_date || a->date == b->date);
}

void decide_patient(const decide_options *o, const patient_consents *pc, consent_query *q,
                    outcome *out)
{
    outcome_reset(out);
    const consent *first = NULL;
    for (uint32_t i = 0; i < pc->n; i++) {
        const consent *c = pc->list[i];
        /* latest: the newest applicable Consent decides; Consents of the
         * same date decide together, and disagreeing ones deny (a tie). */
        if (o->combine == COMBINE_LATEST && first != NULL && !same_date(first, c))
            break;
        outcome one;
        decide_consent(o, c, q, &one);
        if (one.kind == OUTCOME_NONE)
            continue;
        if (first == NULL)
            first = c;
        bool disagree = o->combine == COMBINE_LATEST && out->kind != OUTCOME_NONE &&
                        (out->kind == OUTCOME_DENY) != (one.kind == OUTCOME_DENY);
        outcome_merge(out, &one);
        if (disagree) {
            out->reason = "consent_tie";
            out->why = "Consents of the same date disagree";
        }
        if (out->kind == OUTCOME_DENY && o->combine == COMBINE_DENY_OVERRIDES)
            break;
    }
}
