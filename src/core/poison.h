/* Free lists (requests, calls, transfers kept for reuse) hide a use after "free" from
 * AddressSanitizer: the memory is never given back. These mark what a list keeps as unusable
 * under ASan, so such a use is still reported, and do nothing in other builds. */
#ifndef TX_CORE_POISON_H
#define TX_CORE_POISON_H

#include <stddef.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TX_HAVE_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TX_HAVE_ASAN 1
#endif

#ifdef TX_HAVE_ASAN
#include <sanitizer/asan_interface.h>
/* `n` bytes at `p` may not be touched until tx_unpoison (p NULL or n 0: nothing). */
#define tx_poison(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define tx_unpoison(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define tx_poison(p, n) ((void)(p), (void)(n))
#define tx_unpoison(p, n) ((void)(p), (void)(n))
#endif

#endif
