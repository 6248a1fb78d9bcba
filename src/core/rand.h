/*
 * rand: random identifiers from the kernel's CSPRNG (getrandom).
 *
 * Public identifiers are UUIDv4 so that ids in URLs reveal nothing about counts or
 * order. Tokens (sessions, CSRF) are 32 random bytes in lowercase hex.
 */
#ifndef CG_CORE_RAND_H
#define CG_CORE_RAND_H

#include <stddef.h>
#include <stdint.h>

#define UUID_STR_LEN 37 /* 36 characters + NUL */

/* Fills buf with n cryptographically random bytes; aborts if the kernel cannot. */
void rand_bytes(void *buf, size_t n);
/* Writes a lowercase RFC 9562 version-4 UUID into out. */
void uuid_v4(char out[UUID_STR_LEN]);
/* True when s is a UUID in canonical 8-4-4-4-12 hex form (either case). */
int uuid_valid(const char *s);
/* Writes 2*nbytes lowercase hex characters of random data plus NUL into out. */
void rand_hex(char *out, size_t nbytes);
/* Uniform 64-bit random number. */
uint64_t rand_u64(void);

#endif
