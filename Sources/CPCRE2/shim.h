#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

// Macros Swift does not import, as functions.
static inline size_t cpcre2_zero_terminated(void) { return PCRE2_ZERO_TERMINATED; }
static inline uint32_t cpcre2_jit_complete(void) { return PCRE2_JIT_COMPLETE; }
static inline uint32_t cpcre2_dotall(void) { return PCRE2_DOTALL; }
static inline uint32_t cpcre2_multiline(void) { return PCRE2_MULTILINE; }
static inline uint32_t cpcre2_caseless(void) { return PCRE2_CASELESS; }
static inline uint32_t cpcre2_extended(void) { return PCRE2_EXTENDED; }
static inline uint32_t cpcre2_ungreedy(void) { return PCRE2_UNGREEDY; }
static inline uint32_t cpcre2_anchored(void) { return PCRE2_ANCHORED; }
static inline uint32_t cpcre2_utf(void) { return PCRE2_UTF; }
static inline uint32_t cpcre2_ucp(void) { return PCRE2_UCP; }
static inline uint32_t cpcre2_no_utf_check(void) { return PCRE2_NO_UTF_CHECK; }
static inline int cpcre2_error_nomatch(void) { return PCRE2_ERROR_NOMATCH; }
static inline uint32_t cpcre2_partial_hard(void) { return PCRE2_PARTIAL_HARD; }
static inline int cpcre2_error_partial(void) { return PCRE2_ERROR_PARTIAL; }
static inline uint32_t cpcre2_info_alloptions(void) { return PCRE2_INFO_ALLOPTIONS; }
static inline uint32_t cpcre2_literal(void) { return PCRE2_LITERAL; }
