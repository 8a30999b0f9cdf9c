/*
 * Arbitrary-precision and wide integer arithmetic: digits of pi by a spigot
 * algorithm, a large factorial and Fibonacci number in base 10^9 limbs, and
 * a Miller-Rabin primality search over 64-bit numbers with Montgomery
 * multiplication on 128-bit products (a compiler runtime helper on 32-bit
 * targets).
 *
 * Usage: bignum [SCALE]   (SCALE >= 1, default 1; work grows linearly)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PI_DIGITS 200
#define FACTORIAL_OF 200
#define FIBONACCI_INDEX 1000
#define PRIME_CANDIDATES 150
#define LIMB_BASE 1000000000u

typedef unsigned __int128 u128;

/* ---- pi ---- */

/* Rabinowitz and Wagon's spigot; writes `digits` decimal digits of pi. */
static void pi_spigot(int digits, char *out) {
    int length = digits * 10 / 3 + 2;
    uint32_t *a = malloc(length * sizeof *a);
    if (!a) exit(1);
    for (int i = 0; i < length; i++) a[i] = 2;
    int nines = 0, predigit = 0, written = 0;
    for (int j = 0; j < digits + 1; j++) {
        uint32_t q = 0;
        for (int i = length - 1; i >= 0; i--) {
            uint32_t x = 10 * a[i] + q * (uint32_t)(i + 1);
            a[i] = x % (2 * (uint32_t)i + 1);
            q = x / (2 * (uint32_t)i + 1);
        }
        a[0] = q % 10;
        q /= 10;
        if (q == 9) {
            nines++;
        } else if (q == 10) {
            if (j > 0 && written < digits) out[written++] = (char)('0' + predigit + 1);
            for (int k = 0; k < nines && written < digits; k++) out[written++] = '0';
            predigit = 0;
            nines = 0;
        } else {
            if (j > 0 && written < digits) out[written++] = (char)('0' + predigit);
            predigit = (int)q;
            for (int k = 0; k < nines && written < digits; k++) out[written++] = '9';
            nines = 0;
        }
    }
    while (written < digits) out[written++] = (char)('0' + predigit);
    out[digits] = '\0';
    free(a);
}

/* ---- big naturals in base 10^9 ---- */

struct big {
    uint32_t *limbs; /* least significant first */
    size_t count, capacity;
};

static void big_reserve(struct big *b, size_t count) {
    if (count <= b->capacity) return;
    size_t capacity = b->capacity ? b->capacity : 8;
    while (capacity < count) capacity *= 2;
    uint32_t *limbs = realloc(b->limbs, capacity * sizeof *limbs);
    if (!limbs) exit(1);
    b->limbs = limbs;
    b->capacity = capacity;
}

static void big_set(struct big *b, uint32_t value) {
    big_reserve(b, 2);
    b->limbs[0] = value % LIMB_BASE;
    b->limbs[1] = value / LIMB_BASE;
    b->count = b->limbs[1] ? 2 : 1;
}

static void big_mul_small(struct big *b, uint32_t factor) {
    uint64_t carry = 0;
    for (size_t i = 0; i < b->count; i++) {
        uint64_t x = (uint64_t)b->limbs[i] * factor + carry;
        b->limbs[i] = (uint32_t)(x % LIMB_BASE);
        carry = x / LIMB_BASE;
    }
    while (carry) {
        big_reserve(b, b->count + 1);
        b->limbs[b->count++] = (uint32_t)(carry % LIMB_BASE);
        carry /= LIMB_BASE;
    }
}

/* out = a + b; out may alias neither input. */
static void big_add(struct big *out, const struct big *a, const struct big *b) {
    size_t n = a->count > b->count ? a->count : b->count;
    big_reserve(out, n + 1);
    uint32_t carry = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t x = (i < a->count ? a->limbs[i] : 0) + (i < b->count ? b->limbs[i] : 0) + carry;
        carry = x >= LIMB_BASE;
        out->limbs[i] = carry ? x - LIMB_BASE : x;
    }
    out->count = n;
    if (carry) out->limbs[out->count++] = carry;
}

/* The decimal digits of b, in a new string. */
static char *big_to_string(const struct big *b) {
    char *s = malloc(b->count * 9 + 1);
    if (!s) exit(1);
    int n = sprintf(s, "%u", b->limbs[b->count - 1]);
    for (size_t i = b->count - 1; i-- > 0;) n += sprintf(s + n, "%09u", b->limbs[i]);
    return s;
}

static unsigned digit_sum(const char *s) {
    unsigned sum = 0;
    for (; *s; s++) sum += (unsigned)(*s - '0');
    return sum;
}

static void print_big(const char *label, const struct big *b) {
    char *s = big_to_string(b);
    size_t n = strlen(s);
    printf("%s: %zu digits, digit sum %u, %.24s...%s\n", label, n, digit_sum(s), s, n > 24 ? s + n - 24 : "");
    free(s);
}

/* ---- Miller-Rabin in Montgomery form ---- */

/* Arithmetic modulo an odd n < 2^63 with R = 2^64, using 128-bit products
 * and no 128-bit division. */
struct montgomery {
    uint64_t n, n_neg_inv, r2, one;
};

static uint64_t redc(const struct montgomery *m, u128 t) {
    uint64_t k = (uint64_t)t * m->n_neg_inv;
    uint64_t r = (uint64_t)((t + (u128)k * m->n) >> 64);
    return r >= m->n ? r - m->n : r;
}

static uint64_t add_mod(uint64_t a, uint64_t b, uint64_t n) { return a >= n - b ? a - (n - b) : a + b; }

static struct montgomery montgomery_new(uint64_t n) {
    struct montgomery m;
    m.n = n;
    uint64_t inverse = n; /* correct to 3 bits; each step doubles the precision */
    for (int i = 0; i < 5; i++) inverse *= 2 - n * inverse;
    m.n_neg_inv = 0 - inverse;
    uint64_t r = (0 - n) % n; /* 2^64 mod n */
    m.one = r;
    for (int i = 0; i < 64; i++) r = add_mod(r, r, n);
    m.r2 = r; /* 2^128 mod n */
    return m;
}

static uint64_t to_montgomery(const struct montgomery *m, uint64_t a) { return redc(m, (u128)(a % m->n) * m->r2); }

static uint64_t mont_mul(const struct montgomery *m, uint64_t a, uint64_t b) { return redc(m, (u128)a * b); }

static uint64_t mont_pow(const struct montgomery *m, uint64_t base, uint64_t exponent) {
    uint64_t result = m->one;
    while (exponent) {
        if (exponent & 1) result = mont_mul(m, result, base);
        base = mont_mul(m, base, base);
        exponent >>= 1;
    }
    return result;
}

static int is_prime(uint64_t n) {
    static const uint64_t witnesses[] = {2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37};
    if (n < 2) return 0;
    for (size_t i = 0; i < sizeof witnesses / sizeof *witnesses; i++) {
        if (n % witnesses[i] == 0) return n == witnesses[i];
    }
    uint64_t d = n - 1;
    int s = 0;
    while (!(d & 1)) {
        d >>= 1;
        s++;
    }
    struct montgomery m = montgomery_new(n);
    uint64_t minus_one = to_montgomery(&m, n - 1);
    for (size_t i = 0; i < sizeof witnesses / sizeof *witnesses; i++) {
        uint64_t x = mont_pow(&m, to_montgomery(&m, witnesses[i]), d);
        if (x == m.one || x == minus_one) continue;
        int composite = 1;
        for (int r = 1; r < s && composite; r++) {
            x = mont_mul(&m, x, x);
            if (x == minus_one) composite = 0;
        }
        if (composite) return 0;
    }
    return 1;
}

int main(int argc, char **argv) {
    int scale = argc > 1 ? atoi(argv[1]) : 1;
    if (scale < 1) scale = 1;

    char *pi = malloc(PI_DIGITS + 1);
    if (!pi) return 1;
    struct big factorial = {NULL, 0, 0}, fib_a = {NULL, 0, 0}, fib_b = {NULL, 0, 0}, fib_c = {NULL, 0, 0};
    uint64_t checksum = 0;
    unsigned primes_found = 0;
    uint64_t largest_prime = 0;
    for (int round = 0; round < scale; round++) {
        pi_spigot(PI_DIGITS - round % 4, pi);
        checksum = checksum * 131 + digit_sum(pi);

        big_set(&factorial, 1);
        for (uint32_t k = 2; k <= FACTORIAL_OF + (uint32_t)(round % 3); k++) big_mul_small(&factorial, k);
        checksum = checksum * 131 + factorial.limbs[factorial.count - 1] + factorial.count;

        big_set(&fib_a, 0);
        big_set(&fib_b, 1);
        for (int k = 1; k < FIBONACCI_INDEX; k++) {
            big_add(&fib_c, &fib_a, &fib_b);
            struct big t = fib_a;
            fib_a = fib_b;
            fib_b = fib_c;
            fib_c = t;
        }
        checksum = checksum * 131 + fib_b.limbs[0] + fib_b.count;

        uint64_t start = (UINT64_C(1) << 62) + (uint64_t)round * 2 * PRIME_CANDIDATES + 1;
        for (uint64_t n = start; n < start + 2 * PRIME_CANDIDATES; n += 2) {
            if (is_prime(n)) {
                primes_found++;
                largest_prime = n;
                checksum = checksum * 131 + (n % 1000003);
            }
        }
        u128 wide = (u128)checksum * 0x9e3779b97f4a7c15ULL + largest_prime;
        checksum = (uint64_t)(wide >> 64) ^ (uint64_t)wide;
    }

    printf("pi = %.1s.%.60s...\n", pi, pi + 1);
    printf("pi digit sum (%d digits) = %u\n", (int)strlen(pi), digit_sum(pi));
    print_big("factorial", &factorial);
    print_big("fibonacci", &fib_b);
    printf("probable primes found: %u, largest %llu\n", primes_found, (unsigned long long)largest_prime);
    printf("checksum = %016llx\n", (unsigned long long)checksum);
    free(pi);
    free(factorial.limbs);
    free(fib_a.limbs);
    free(fib_b.limbs);
    free(fib_c.limbs);
    return 0;
}
