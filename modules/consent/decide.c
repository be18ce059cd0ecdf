/*
 * decide.c - see decide.h. consent.md §3 and the module's README:
 * applicability, then the provision tree, then several Consents combined.
 *
 * The rule, once, at every depth (README "Rules" 3-5). A provision's own
 * conditions are three-valued: false, true, or not decidable from the
 * request, either because the module cannot check them (a doubt: an actor
 * not in the store, no purpose of use, data/dataPeriod/expression, an
 * unknown action) or because only the response can show them (a content
 * restriction: securityLabel, class, code). A nested provision applies when
 * its own conditions and every ancestor's hold (AND down the path), so a
 * doubt or a content restriction anywhere above it is one of its own. Then,
 * walking down with the decision in force (the deepest rule that surely
 * applies; none at the root of a Consent whose applicability depends on
 * the response):
 *  - a deny rule that surely applies is in force; one in doubt denies too
 *    (consent_unresolved); one whose resources only the response shows
 *    removes them from a permit in force (a redact obligation of the
 *    nearest such restriction's codes, a superset of what the rule covers),
 *    or denies with redact = "deny". Nothing below a doubtful or
 *    response-dependent deny can lift it.
 *  - a permit rule that surely applies is in force; one in doubt or
 *    response-dependent grants nothing, but the deny rules below it still
 *    count (with its doubt and its restriction), as the same rules written
 *    flat would.
 * Among siblings a deny wins; a rule below decides before the one above.
 */
#include "decide.h"

#include <string.h>

/* What is known of one provision's own conditions for this request. */
typedef struct rule_match {
    bool no;         /* a condition is false: the rule does not apply */
    bool doubt;      /* a condition on who, why, when or how cannot be checked */
    bool content;    /* a restriction to resources only the response shows */
    const char *why; /* the doubt, as a sentence */
} rule_match;

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

static void doubt(rule_match *m, const char *why)
{
    m->doubt = true;
    m->why = why;
}

/* An actor that stands for people the module does not enumerate: the
 * requester may be one of them without sharing an identifier with it (a
 * PractitionerRole is a practitioner at an organisation; a CareTeam and a
 * Group have members; R4 Consent.provision.actor.reference). */
static bool collective(const char *reference)
{
    return reference != NULL &&
           (strncmp(reference, "PractitionerRole/", 17) == 0 ||
            strncmp(reference, "CareTeam/", 9) == 0 || strncmp(reference, "Group/", 6) == 0);
}

/* consent.md §3 rule 5: an actor the module cannot place must neither
 * silently match nor silently not match. */
static void actor_match(const provision *p, const consent_query *q, rule_match *m)
{
    bool unresolved = false, beyond_user = false, members = false;
    for (uint32_t i = 0; i < p->nactors; i++) {
        const actor *a = &p->actors[i];
        if (q->fhir_user != NULL && a->reference != NULL && strcmp(q->fhir_user, a->reference) == 0)
            return;
        if (ids_overlap(&a->ids, q->client_ids) || ids_overlap(&a->ids, q->user_ids))
            return;
        unresolved = unresolved || !a->resolved;
        members = members || collective(a->reference);
        beyond_user = beyond_user || q->fhir_user == NULL || a->reference == NULL ||
                      !same_type(a->reference, q->fhir_user);
    }
    if (unresolved)
        doubt(m, "an actor it names is not in the consent store");
    else if (members)
        doubt(m, "whether the requester is one of the people a PractitionerRole, CareTeam or "
                 "Group actor stands for is not checked");
    /* Without a registry entry, the party behind the client (its
     * organisation, say) is unknown: only an actor of the fhirUser's own
     * type can be ruled out. */
    else if (q->client_ids == NULL && beyond_user)
        doubt(m, "the client is not in the client registry, so whom it acts for is unknown");
    else
        m->no = true;
}

/* The conditions on who, why, when and how (not which resources). */
static void conditions_match(const provision *p, const consent_query *q, rule_match *m)
{
    if (p->has_period && (q->now < p->period_first || q->now >= p->period_after)) {
        m->no = true;
        return;
    }
    if (p->action.n > 0) {
        if (q->action_key == NULL)
            doubt(m, "the request's consent action is not known (an operation that may change "
                     "data)");
        else if (!in_set(p->action.codes, p->action.n, q->action_key))
            m->no = true;
    }
    if (p->purpose.n > 0) {
        if (q->npurposes == 0)
            doubt(m, "the request has no purpose of use");
        else if (!overlap(&p->purpose, q->purposes, q->npurposes))
            m->no = true;
    }
    if (!m->no && p->nactors > 0)
        actor_match(p, q, m);
    if (p->uncheckable != NULL)
        doubt(m, p->uncheckable);
}

static const resource_content *content(consent_query *q)
{
    if (!q->content_loaded) {
        q->content_loaded = true;
        if (q->load_content != NULL)
            q->load_content(q);
    }
    return &q->content;
}

/* One content restriction (the codes of one element) against what the
 * response is known to hold: `known` lists it all when `complete`, else
 * only part of it. A deny rule applies when any resource has a listed code;
 * a permit rule covers the response only when every resource has one
 * (single: one resource, whose codes are `known`). */
typedef enum content_answer { ANSWER_NO, ANSWER_YES, ANSWER_RESPONSE } content_answer;

static content_answer restriction(const code_set *s, rule_type type, const char *const *known,
                                  size_t n, bool complete, bool single)
{
    bool hit = overlap(s, known, n);
    if (type == RULE_DENY)
        return hit ? ANSWER_YES : complete ? ANSWER_NO : ANSWER_RESPONSE;
    if (!complete)
        return ANSWER_RESPONSE;
    if (!hit)
        return ANSWER_NO;
    return single ? ANSWER_YES : ANSWER_RESPONSE;
}

static bool is_type_class(const char *code)
{
    return strncmp(code, SYS_RESOURCE_TYPES "|", sizeof SYS_RESOURCE_TYPES) == 0;
}

/* A class rule: resource types (from the request's type, or every resource
 * in the stored resource), profiles (urn:ietf:rfc:3986, from the stored
 * resource only) and other systems (a document type, IHE FormatCode: a
 * Coding of the resource, from the stored resource only). A deny rule
 * applies when some resource is of a listed class; a permit rule covers the
 * response only when every resource is of a listed type. */
static content_answer class_restriction(const provision *p, consent_query *q)
{
    bool stored = q->use_stored && content(q)->known;
    const char *const *known = stored ? q->content.classes : &q->type_class;
    size_t n = stored ? q->content.nclasses : q->type_class != NULL;
    bool complete = stored || q->type_only;
    bool beyond_type = false, document = false;
    for (uint32_t i = 0; i < p->class_.n; i++) {
        const char *code = p->class_.codes[i];
        if (is_type_class(code))
            continue;
        if (strncmp(code, SYS_URI "|", sizeof SYS_URI) == 0)
            beyond_type = beyond_type || !stored;
        else
            document = true;
    }
    if (p->type == RULE_PERMIT) {
        if (!complete || beyond_type || document)
            return ANSWER_RESPONSE;
        bool some = false, all = true;
        for (size_t i = 0; i < n; i++) {
            if (!is_type_class(known[i]))
                continue;
            bool listed = in_set(p->class_.codes, p->class_.n, known[i]);
            some = some || listed;
            all = all && listed;
        }
        return all && some ? ANSWER_YES : some ? ANSWER_RESPONSE : ANSWER_NO;
    }
    if (overlap(&p->class_, known, n) ||
        (document && stored && overlap(&p->class_, q->content.codes, q->content.ncodes)))
        return ANSWER_YES;
    return complete && !beyond_type && (!document || stored) ? ANSWER_NO : ANSWER_RESPONSE;
}

/* Which resources: classes against the request's type (or the stored
 * resource's content), labels and codes against the stored resource. */
static void content_match(const provision *p, consent_query *q, rule_match *m)
{
    if (p->class_.n == 0 && p->security_label.n == 0 && p->code.n == 0)
        return; /* no restriction to some resources: most rules */
    content_answer a[3] = {ANSWER_YES, ANSWER_YES, ANSWER_YES};
    if (p->class_.n > 0)
        a[0] = class_restriction(p, q);
    if (p->security_label.n > 0 || p->code.n > 0) {
        const resource_content *rc = q->use_stored ? content(q) : NULL;
        bool known = rc != NULL && rc->known;
        if (p->security_label.n > 0)
            a[1] = restriction(&p->security_label, p->type, known ? rc->labels : NULL,
                               known ? rc->nlabels : 0, known, known && rc->single);
        if (p->code.n > 0)
            a[2] = restriction(&p->code, p->type, known ? rc->codes : NULL, known ? rc->ncodes : 0,
                               known, known && rc->single);
    }
    for (int i = 0; i < 3; i++) {
        if (a[i] == ANSWER_NO)
            m->no = true;
        else if (a[i] == ANSWER_RESPONSE)
            m->content = true;
    }
}

static rule_match provision_match(const provision *p, consent_query *q)
{
    rule_match m = {false, false, false, NULL};
    conditions_match(p, q, &m);
    if (!m.no)
        content_match(p, q, &m);
    return m;
}

/* What the path from the Consent's root down to a provision makes of it:
 * the AND of every condition on the way. */
typedef struct path_state {
    bool doubt, content;
    const char *why;    /* the first doubt on the path */
    const char *redact; /* redact text of the nearest response-dependent rule */
} path_state;

static path_state extend(path_state at, const provision *p, const rule_match *m)
{
    if (m->doubt && !at.doubt) {
        at.doubt = true;
        at.why = m->why;
    }
    if (m->content) {
        at.content = true;
        at.redact = p->redact_text;
    }
    return at;
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
    rule_type decision; /* RULE_NONE: nothing decided (yet) */
    const provision *by;
    const char *why;
    const char *reason;
} verdict;

/* node's conditions do not fail, its path gives `at`, and in_force is the
 * decision above it: the decision for the request below node. */
static verdict walk_rule(walk *w, const provision *node, verdict in_force, path_state at)
{
    verdict own = in_force;
    if (node->type == RULE_DENY) {
        if (at.content) {
            if (in_force.decision == RULE_DENY)
                return in_force;
            if (w->o->redact_deny)
                return (verdict){RULE_DENY, node,
                                 "it restricts resources by security label, class or code and "
                                 "redact = \"deny\"",
                                 "consent_redact_deny"};
            add_redact(w, at.redact);
            return in_force;
        }
        if (at.doubt)
            return (verdict){RULE_DENY, node, at.why, "consent_unresolved"};
        own = (verdict){RULE_DENY, node, NULL, "consent_deny"};
    } else if (node->type == RULE_PERMIT && !at.doubt && !at.content) {
        own = (verdict){RULE_PERMIT, node, NULL, NULL};
    } else if (in_force.decision == RULE_DENY) {
        return in_force; /* it may not apply: it lifts nothing, nor can any rule below it */
    }
    verdict deny = {RULE_NONE, NULL, NULL, NULL}, permit = deny;
    for (uint32_t i = 0; i < node->nchildren; i++) {
        const provision *c = &node->children[i];
        rule_match m = provision_match(c, w->q);
        if (m.no)
            continue;
        verdict v = walk_rule(w, c, own, extend(at, c, &m));
        if (v.by == own.by)
            continue; /* nothing below c decided */
        if (v.decision == RULE_DENY && deny.decision == RULE_NONE)
            deny = v;
        else if (v.decision == RULE_PERMIT && permit.decision == RULE_NONE)
            permit = v;
    }
    if (deny.decision != RULE_NONE)
        return deny;
    if (permit.decision != RULE_NONE)
        return permit;
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
    /* The root's own conditions are the Consent's applicability (README
     * rule 1): a doubt there denies whatever the base. */
    rule_match m = provision_match(&c->root, q);
    if (m.no)
        return;
    if (m.doubt && !m.content) {
        out->kind = OUTCOME_DENY;
        out->reason = "consent_unresolved";
        out->why = m.why;
        return;
    }
    walk w = {o, q, out, false};
    path_state at = extend((path_state){false, false, NULL, NULL}, &c->root, &m);
    verdict none = {RULE_NONE, NULL, NULL, NULL};
    verdict v = walk_rule(&w, &c->root, none, at);
    if (v.decision == RULE_DENY) {
        out->kind = OUTCOME_DENY;
        out->provision = v.by;
        out->why = v.why;
        out->reason = v.reason;
    } else if (v.decision == RULE_PERMIT) {
        out->kind = OUTCOME_PERMIT;
        out->provision = v.by;
        out->reason = "consent_permit";
    } else if (out->nredact > 0) {
        out->kind = OUTCOME_FILTER; /* decides nothing, but some resources must go */
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
