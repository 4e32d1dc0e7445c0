/* cJSON allocation hooks with a per-thread bump buffer for scoped parses, installed by the tenax
 * program (never by a library call). See json_arena.h.
 * A block that does not fit the buffer comes from malloc; free() tells the two apart by
 * address, so memory from either source is released correctly whichever scope frees it. */
#include "gateway/json_arena.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#define ARENA_BYTES (64 * 1024)
#define ARENA_ALIGN 16

static _Thread_local struct {
    unsigned char *base; /* ARENA_BYTES, allocated on the thread's first scope, never freed */
    /* The free part of the buffer while a scope is open, NULL otherwise. next stays a multiple
     * of ARENA_ALIGN from base, so the room left (end - next) is one too. */
    unsigned char *next, *end;
    int depth;
    int spilled; /* a block of the current outermost scope came from malloc */
} arena;

static void *arena_malloc(size_t n)
{
    unsigned char *p = arena.next;
    if (p != NULL && n <= (size_t)(arena.end - p)) {
        /* rounding n up stays within the room left, itself a multiple of ARENA_ALIGN */
        arena.next = p + ((n + (ARENA_ALIGN - 1)) & ~(size_t)(ARENA_ALIGN - 1));
        return p;
    }
    if (arena.depth > 0) arena.spilled = 1;
    return malloc(n);
}

static void arena_free(void *p)
{
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)arena.base;
    if (p != NULL && arena.base != NULL && a >= b && a < b + ARENA_BYTES)
        return; /* reclaimed when the outermost scope ends */
    free(p);
}

static pthread_key_t buffer_key; /* frees a thread's buffer when the thread exits */
static int have_key;             /* written once by tx__json_arena_install, before threads */

void tx__json_arena_install(void)
{
    if (have_key) return;
    have_key = pthread_key_create(&buffer_key, free) == 0;
    if (!have_key) return; /* no buffer can be released at thread exit: cJSON keeps malloc */
    cJSON_Hooks h = {arena_malloc, arena_free};
    cJSON_InitHooks(&h);
}

void tx__json_arena_begin(void)
{
    if (arena.base == NULL && have_key) {
        arena.base = malloc(ARENA_BYTES); /* NULL: every block comes from malloc */
        if (arena.base != NULL && pthread_setspecific(buffer_key, arena.base) != 0) {
            free(arena.base);
            arena.base = NULL;
        }
    }
    if (arena.depth++ == 0) {
        arena.spilled = arena.base == NULL;
        arena.next = arena.base;
        arena.end = arena.base != NULL ? arena.base + ARENA_BYTES : NULL;
    }
}

void tx__json_arena_end(void)
{
    if (arena.depth > 0 && --arena.depth == 0)
        arena.next = arena.end = NULL; /* the whole buffer is free again */
}

void tx__json_arena_delete(cJSON *root)
{
    if (root == NULL) return;
    uintptr_t a = (uintptr_t)root, b = (uintptr_t)arena.base;
    if (arena.depth > 0 && !arena.spilled && arena.base != NULL && a >= b && a < b + ARENA_BYTES)
        return; /* the tree is the scope's, and every block of the scope is in the buffer */
    cJSON_Delete(root);
}
