/*
 * Deep and broad recursion: Ackermann's function, binary trees built,
 * checked and freed recursively, a list of twelve thousand nodes built,
 * hashed and mapped by non-tail recursion, recursion ten thousand levels
 * deep that keeps a buffer on the stack at every level, N-queens by
 * backtracking, mutual recursion and Fibonacci.
 *
 * Usage: recursion [SCALE]   (SCALE >= 1, default 1; work grows linearly)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPINE_DEPTH 12000
#define FRAME_BUFFER_DEPTH 10000
#define TREE_DEPTH 9

static unsigned max_depth_seen;

static void *checked_malloc(size_t size) {
    void *p = malloc(size);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

/* ---- Ackermann ---- */

static uint64_t ackermann_calls;

static uint32_t ackermann(uint32_t m, uint32_t n) {
    ackermann_calls++;
    if (m == 0) return n + 1;
    if (n == 0) return ackermann(m - 1, 1);
    return ackermann(m - 1, ackermann(m, n - 1));
}

/* ---- binary trees ---- */

struct tree {
    struct tree *left, *right;
    uint32_t value;
};

static struct tree *tree_build(unsigned depth, uint32_t value) {
    struct tree *t = checked_malloc(sizeof *t);
    t->value = value;
    if (depth == 0) {
        t->left = t->right = NULL;
    } else {
        t->left = tree_build(depth - 1, 2 * value);
        t->right = tree_build(depth - 1, 2 * value + 1);
    }
    return t;
}

static uint32_t tree_check(const struct tree *t) {
    if (!t->left) return t->value;
    return t->value ^ (tree_check(t->left) * 3u + tree_check(t->right));
}

static unsigned tree_count(const struct tree *t) {
    return t ? 1 + tree_count(t->left) + tree_count(t->right) : 0;
}

static void tree_free(struct tree *t) {
    if (!t) return;
    tree_free(t->left);
    tree_free(t->right);
    free(t);
}

/* ---- a deep list handled by non-tail recursion ---- */

struct node {
    struct node *next;
    uint32_t value;
};

/* The list nodes come from one block, so that the deep recursion spends
 * its time recursing rather than in malloc. */
struct node_pool {
    struct node *nodes;
    unsigned used, capacity;
};

static struct node *pool_take(struct node_pool *pool) {
    if (pool->used == pool->capacity) {
        fprintf(stderr, "node pool exhausted\n");
        exit(1);
    }
    return &pool->nodes[pool->used++];
}

static struct node *spine_build(struct node_pool *pool, unsigned n, uint32_t seed) {
    if (n == 0) return NULL;
    struct node *node = pool_take(pool);
    node->value = seed;
    node->next = spine_build(pool, n - 1, seed * 1103515245u + 12345u);
    return node;
}

/* The combination of a multiply and a xor after the call keeps compilers
 * from turning this into a loop. */
static uint32_t spine_hash(const struct node *node, unsigned depth) {
    if (!node) {
        if (depth > max_depth_seen) max_depth_seen = depth;
        return 0x811c9dc5u;
    }
    uint32_t rest = spine_hash(node->next, depth + 1);
    return (rest * 16777619u) ^ node->value;
}

static struct node *spine_map(struct node_pool *pool, const struct node *node, uint32_t (*f)(uint32_t)) {
    if (!node) return NULL;
    struct node *copy = pool_take(pool);
    copy->next = spine_map(pool, node->next, f);
    copy->value = f(node->value);
    return copy;
}

static uint32_t mix(uint32_t x) { return (x ^ (x >> 13)) * 0x5bd1e995u; }

/* ---- recursion with a buffer on the shadow stack at every level ---- */

#define LEVEL_TEXT 14

/* Writes the depth as five decimal digits, ':' and the value as eight hex
 * digits. Not inlined, so the caller's buffer lives in linear memory. */
__attribute__((noinline)) static void format_level(char *buffer, unsigned depth, uint32_t value) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 4; i >= 0; i--) {
        buffer[i] = (char)('0' + depth % 10);
        depth /= 10;
    }
    buffer[5] = ':';
    for (int i = 0; i < 8; i++) buffer[6 + i] = digits[(value >> (28 - 4 * i)) & 15];
}

static uint32_t framed(unsigned depth, uint32_t acc) {
    char buffer[LEVEL_TEXT];
    format_level(buffer, depth, acc);
    if (depth == 0) return acc;
    uint32_t inner = framed(depth - 1, acc * 31u + (unsigned char)buffer[LEVEL_TEXT - 1]);
    /* Read the buffer after the call: it must have survived the deeper frames. */
    uint32_t h = inner;
    for (int i = 0; i < LEVEL_TEXT; i++) h = h * 131u + (unsigned char)buffer[i];
    return h;
}

/* ---- N-queens ---- */

static unsigned queens(unsigned n, unsigned row, uint32_t cols, uint32_t diag1, uint32_t diag2) {
    if (row == n) return 1;
    unsigned solutions = 0;
    uint32_t free_cols = ~(cols | diag1 | diag2) & ((1u << n) - 1);
    while (free_cols) {
        uint32_t bit = free_cols & -free_cols;
        free_cols ^= bit;
        solutions += queens(n, row + 1, cols | bit, (diag1 | bit) << 1, (diag2 | bit) >> 1);
    }
    return solutions;
}

/* ---- mutual recursion ---- */

static uint32_t collatz_odd(uint64_t n);

static uint32_t collatz_even(uint64_t n) {
    if (n == 1) return 0;
    return 1 + ((n & 1) ? collatz_odd(n) : collatz_even(n / 2));
}

static uint32_t collatz_odd(uint64_t n) { return 1 + collatz_even(3 * n + 1); }

static uint64_t fib(unsigned n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

int main(int argc, char **argv) {
    int scale = argc > 1 ? atoi(argv[1]) : 1;
    if (scale < 1) scale = 1;

    uint64_t checksum = 0;
    uint32_t ack = 0, spine = 0, mapped = 0, framed_hash = 0, tree_sum = 0, collatz_max = 0;
    unsigned nodes = 0, solutions = 0;
    uint64_t fib_value = 0;
    for (int round = 0; round < scale; round++) {
        uint32_t seed = 7u + (uint32_t)round;

        ack = ackermann(2, 100 + (uint32_t)(round % 5)) + ackermann(3, 5);
        checksum = checksum * 1000003u + ack;

        struct tree *tree = tree_build(TREE_DEPTH, seed);
        tree_sum = tree_check(tree);
        nodes = tree_count(tree);
        tree_free(tree);
        checksum = checksum * 1000003u + tree_sum + nodes;

        struct node_pool pool = {checked_malloc(2 * SPINE_DEPTH * sizeof(struct node)), 0, 2 * SPINE_DEPTH};
        struct node *list = spine_build(&pool, SPINE_DEPTH, seed);
        spine = spine_hash(list, 0);
        struct node *copy = spine_map(&pool, list, mix);
        mapped = spine_hash(copy, 0);
        free(pool.nodes);
        checksum = checksum * 1000003u + spine + mapped;

        framed_hash = framed(FRAME_BUFFER_DEPTH, seed);
        checksum = checksum * 1000003u + framed_hash;

        solutions = queens(8, 0, 0, 0, 0);
        checksum = checksum * 1000003u + solutions;

        collatz_max = 0;
        for (uint64_t n = 1; n < 1000; n++) {
            uint32_t steps = collatz_even(n + (uint64_t)round * 1000u);
            if (steps > collatz_max) collatz_max = steps;
        }
        checksum = checksum * 1000003u + collatz_max;

        fib_value = fib(20 + (unsigned)(round % 2));
        checksum = checksum * 1000003u + fib_value;
    }

    printf("ackermann(2,n)+ackermann(3,5) = %u (%llu calls)\n", ack, (unsigned long long)ackermann_calls);
    printf("tree of depth %d: %u nodes, check %08x\n", TREE_DEPTH, nodes, tree_sum);
    printf("spine of %d nodes: hash %08x, mapped %08x, deepest %u\n", SPINE_DEPTH, spine, mapped, max_depth_seen);
    printf("framed recursion of depth %d: %08x\n", FRAME_BUFFER_DEPTH, framed_hash);
    printf("8 queens: %u solutions\n", solutions);
    printf("longest collatz chain: %u steps\n", collatz_max);
    printf("fib = %llu\n", (unsigned long long)fib_value);
    printf("checksum = %016llx\n", (unsigned long long)checksum);
    return 0;
}
