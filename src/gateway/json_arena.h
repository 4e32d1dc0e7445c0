/* Scoped allocation for short-lived cJSON trees, for the tenax program: once main has called
 * tx__json_arena_install (cJSON's allocator is process-wide, so only the program that owns the
 * process may choose it; libtenax never does), between tx__json_arena_begin and
 * tx__json_arena_end, cJSON's nodes and strings come from a per-thread bump buffer, so a parse
 * costs no malloc and its delete no free. Outside a scope (and on other threads) cJSON uses
 * malloc and free as usual. A tree built inside a scope must be deleted before its end and
 * nothing of it kept (copy what you need). */
#ifndef TX_GATEWAY_JSON_ARENA_H
#define TX_GATEWAY_JSON_ARENA_H

/* Installs the hooks with cJSON_InitHooks. Call once from main before any thread starts and
 * before any cJSON tree exists (a tree allocated under other hooks must not be freed by these).
 * Without it scopes still work and every block comes from malloc. */
void tx__json_arena_install(void);

/* Opens a scope on this thread (scopes nest; the buffer is reused once the outermost ends). */
void tx__json_arena_begin(void);

/* Closes the innermost scope. */
void tx__json_arena_end(void);

struct cJSON;

/* Deletes a cJSON tree. When it was built in the open scope and every block of the scope so far
 * came from the buffer, there is nothing to free one by one (the outermost end reclaims it all)
 * and the walk is skipped; otherwise (a block that did not fit came from malloc, a tree from
 * outside the scope, no scope open) it is cJSON_Delete. NULL: no-op. The tree must not be used
 * afterwards either way. */
void tx__json_arena_delete(struct cJSON *root);

#endif
