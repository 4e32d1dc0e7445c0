/* Timeouts without a timer each (internal): an intrusive list of nodes kept in order of their due
 * time, for many timeouts of (nearly) one length, such as every connection's header or idle
 * timeout. A node is 24 bytes where a uv_timer_t is 152; the owner drives the whole list from one
 * timer set for the earliest due time. Inserting walks from the tail, so when every node gets the
 * same length the list stays in arrival order and insertion costs one step. No clock, no I/O. */
#ifndef TX_SERVER_TLIST_H
#define TX_SERVER_TLIST_H

#include <stddef.h>
#include <stdint.h>

typedef struct tx_tnode {
    struct tx_tnode *prev, *next;
    uint64_t due; /* when it is due (the owner's clock) */
} tx_tnode_t;

typedef struct {
    tx_tnode_t *head, *tail;
} tx_tlist_t;

/* 1 when n is in a list. Nodes start zeroed (not in one). */
static inline int tx__tnode_linked(const tx_tlist_t *l, const tx_tnode_t *n)
{
    return n->prev != NULL || l->head == n;
}

/* Puts n (not in a list) at its place by `due`, after the nodes due no later. */
static inline void tx__tlist_insert(tx_tlist_t *l, tx_tnode_t *n, uint64_t due)
{
    tx_tnode_t *at = l->tail;
    while (at != NULL && at->due > due)
        at = at->prev;
    n->due = due;
    n->prev = at;
    n->next = at != NULL ? at->next : l->head;
    if (n->next != NULL)
        n->next->prev = n;
    else
        l->tail = n;
    if (at != NULL)
        at->next = n;
    else
        l->head = n;
}

/* Takes n (in l) out of it. */
static inline void tx__tlist_remove(tx_tlist_t *l, tx_tnode_t *n)
{
    if (n->prev != NULL)
        n->prev->next = n->next;
    else
        l->head = n->next;
    if (n->next != NULL)
        n->next->prev = n->prev;
    else
        l->tail = n->prev;
    n->prev = n->next = NULL;
}

/* Takes out and returns the first node due at `now` or before; NULL when none is. */
static inline tx_tnode_t *tx__tlist_pop_due(tx_tlist_t *l, uint64_t now)
{
    tx_tnode_t *n = l->head;
    if (n == NULL || n->due > now) return NULL;
    tx__tlist_remove(l, n);
    return n;
}

#endif
