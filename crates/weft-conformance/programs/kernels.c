/*
 * Compute kernels: integer and floating-point matrix multiplication, a sieve
 * of Eratosthenes, CRC-32 and SHA-256 over generated data.
 *
 * Usage: kernels [SCALE]   (SCALE >= 1, default 1; work grows linearly)
 *
 * Every round runs each kernel on inputs derived from the round number and
 * folds the results into a per-kernel checksum, printed at the end.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MATRIX_SIZE 32
#define SIEVE_LIMIT 50000
#define BUFFER_SIZE (16 * 1024)

static uint64_t rng_state;

static uint64_t next_random(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t fold(uint64_t hash, uint64_t value) {
    for (int i = 0; i < 8; i++) {
        hash ^= (value >> (8 * i)) & 0xff;
        hash *= 0x100000001b3ULL;
    }
    return hash;
}

/* ---- matrix multiplication ---- */

static void matmul_u32(const uint32_t *a, const uint32_t *b, uint32_t *c, int n) {
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) c[i * n + j] = 0;
        for (int k = 0; k < n; k++) {
            uint32_t aik = a[i * n + k];
            for (int j = 0; j < n; j++) c[i * n + j] += aik * b[k * n + j];
        }
    }
}

static void matmul_f64(const double *a, const double *b, double *c, int n) {
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) {
            double sum = 0.0;
            for (int k = 0; k < n; k++) sum += a[i * n + k] * b[k * n + j];
            c[i * n + j] = sum;
        }
    }
}

static uint64_t matrix_round(void) {
    static uint32_t ia[MATRIX_SIZE * MATRIX_SIZE], ib[MATRIX_SIZE * MATRIX_SIZE], ic[MATRIX_SIZE * MATRIX_SIZE];
    static double fa[MATRIX_SIZE * MATRIX_SIZE], fb[MATRIX_SIZE * MATRIX_SIZE], fc[MATRIX_SIZE * MATRIX_SIZE];
    int n = MATRIX_SIZE;
    for (int i = 0; i < n * n; i++) {
        uint64_t r = next_random();
        ia[i] = (uint32_t)r;
        ib[i] = (uint32_t)(r >> 32);
        fa[i] = (double)(r & 0xffff) / 4096.0 - 8.0;
        fb[i] = (double)((r >> 16) & 0xffff) / 8192.0 - 4.0;
    }
    matmul_u32(ia, ib, ic, n);
    /* Square the product once more so the result depends on every entry. */
    matmul_u32(ic, ia, ib, n);
    matmul_f64(fa, fb, fc, n);
    uint64_t hash = 0xcbf29ce484222325ULL;
    double trace = 0.0;
    for (int i = 0; i < n * n; i++) hash = fold(hash, ib[i]);
    for (int i = 0; i < n; i++) trace += fc[i * n + i];
    uint64_t bits;
    memcpy(&bits, &trace, sizeof bits);
    return fold(hash, bits);
}

/* ---- sieve ---- */

static uint64_t sieve_round(uint32_t limit, uint32_t *count_out) {
    uint8_t *composite = calloc(limit + 1, 1);
    if (!composite) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    uint32_t count = 0;
    uint64_t sum = 0;
    for (uint32_t i = 2; i <= limit; i++) {
        if (composite[i]) continue;
        count++;
        sum += (uint64_t)i * i;
        for (uint64_t j = (uint64_t)i * i; j <= limit; j += i) composite[j] = 1;
    }
    free(composite);
    *count_out = count;
    return sum;
}

/* ---- CRC-32 ---- */

static uint32_t crc_table[256];

static void crc32_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32(const uint8_t *data, size_t len) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < len; i++) c = crc_table[(c ^ data[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

/* ---- SHA-256 ---- */

static const uint32_t sha_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void sha256_block(uint32_t state[8], const uint8_t block[64]) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)block[4 * i] << 24 | (uint32_t)block[4 * i + 1] << 16 | (uint32_t)block[4 * i + 2] << 8 |
               (uint32_t)block[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + sha_k[i] + w[i];
        uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
    state[4] += e;
    state[5] += f;
    state[6] += g;
    state[7] += h;
}

static void sha256(const uint8_t *data, size_t len, uint8_t digest[32]) {
    uint32_t state[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                         0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    size_t full = len / 64;
    for (size_t i = 0; i < full; i++) sha256_block(state, data + 64 * i);
    uint8_t tail[128];
    size_t rest = len - 64 * full;
    memset(tail, 0, sizeof tail);
    memcpy(tail, data + 64 * full, rest);
    tail[rest] = 0x80;
    size_t tail_len = rest + 9 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++) tail[tail_len - 1 - i] = (uint8_t)(bits >> (8 * i));
    for (size_t off = 0; off < tail_len; off += 64) sha256_block(state, tail + off);
    for (int i = 0; i < 8; i++) {
        digest[4 * i] = (uint8_t)(state[i] >> 24);
        digest[4 * i + 1] = (uint8_t)(state[i] >> 16);
        digest[4 * i + 2] = (uint8_t)(state[i] >> 8);
        digest[4 * i + 3] = (uint8_t)state[i];
    }
}

static void print_digest(const char *label, const uint8_t digest[32]) {
    printf("%s", label);
    for (int i = 0; i < 32; i++) printf("%02x", digest[i]);
    printf("\n");
}

int main(int argc, char **argv) {
    int scale = argc > 1 ? atoi(argv[1]) : 1;
    if (scale < 1) scale = 1;
    crc32_init();

    /* Known-answer checks, so that a broken kernel shows up on its own. */
    uint8_t digest[32];
    sha256((const uint8_t *)"abc", 3, digest);
    print_digest("sha256(abc) = ", digest);
    printf("crc32(123456789) = %08x\n", crc32((const uint8_t *)"123456789", 9));

    uint8_t *buffer = malloc(BUFFER_SIZE);
    if (!buffer) return 1;
    uint64_t matrix_hash = 0, sieve_hash = 0, crc_hash = 0;
    uint8_t chained[32] = {0};
    uint32_t primes = 0;
    for (int round = 0; round < scale; round++) {
        rng_state = 0x1234567u + (uint64_t)round * 0x51ed27u;
        matrix_hash = fold(matrix_hash ^ 0x9e37u, matrix_round());

        uint32_t limit = SIEVE_LIMIT - (uint32_t)(round % 7) * 1000;
        sieve_hash = fold(sieve_hash, sieve_round(limit, &primes));
        sieve_hash = fold(sieve_hash, primes);

        for (size_t i = 0; i < BUFFER_SIZE; i += 8) {
            uint64_t r = next_random();
            memcpy(buffer + i, &r, 8);
        }
        for (int i = 0; i < 32; i++) buffer[i] ^= chained[i];
        for (size_t len = BUFFER_SIZE; len > 0; len /= 3) crc_hash = fold(crc_hash, crc32(buffer, len));
        sha256(buffer, BUFFER_SIZE - (size_t)round % 61, chained);
    }
    free(buffer);
    printf("rounds = %d\n", scale);
    printf("primes below %d in the last round = %u\n", SIEVE_LIMIT - ((scale - 1) % 7) * 1000, primes);
    printf("matrix checksum = %016llx\n", (unsigned long long)matrix_hash);
    printf("sieve checksum = %016llx\n", (unsigned long long)sieve_hash);
    printf("crc checksum = %016llx\n", (unsigned long long)crc_hash);
    print_digest("chained sha256 = ", chained);
    return 0;
}
