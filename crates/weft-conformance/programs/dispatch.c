/*
 * Indirect calls: a table of binary operations applied in a random order,
 * shapes with hand-written virtual tables, qsort and bsearch with several
 * comparators, a tokenizer written as a state machine of functions that
 * return the next state, and callbacks threaded through a generic fold.
 *
 * Usage: dispatch [SCALE]   (SCALE >= 1, default 1; work grows linearly)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECORD_COUNT 200
#define OPERATION_STEPS 20000
#define SHAPE_COUNT 1000
#define TEXT_LENGTH 10000

static uint64_t rng_state;

static uint32_t next_random(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static void *checked_malloc(size_t size) {
    void *p = malloc(size);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

/* ---- a table of operations ---- */

typedef uint32_t (*binary_op)(uint32_t, uint32_t);

static uint32_t op_add(uint32_t a, uint32_t b) { return a + b; }
static uint32_t op_sub(uint32_t a, uint32_t b) { return a - b; }
static uint32_t op_mul(uint32_t a, uint32_t b) { return a * (b | 1); }
static uint32_t op_xor(uint32_t a, uint32_t b) { return a ^ b; }
static uint32_t op_rotl(uint32_t a, uint32_t b) { return (a << (b & 31)) | (a >> ((32 - (b & 31)) & 31)); }
static uint32_t op_div(uint32_t a, uint32_t b) { return a / (b % 97 + 1) + b; }
static uint32_t op_mod(uint32_t a, uint32_t b) { return a % (b % 1009 + 1) + a; }
static uint32_t op_min(uint32_t a, uint32_t b) { return (a < b ? a : b) + 0x9e3779b9u; }
static uint32_t op_max(uint32_t a, uint32_t b) { return (a > b ? a : b) ^ 0x7f4a7c15u; }
static uint32_t op_popcount(uint32_t a, uint32_t b) {
    uint32_t n = 0;
    for (uint32_t x = a ^ b; x; x &= x - 1) n++;
    return a + n;
}
static uint32_t op_reverse(uint32_t a, uint32_t b) {
    uint32_t r = 0;
    for (int i = 0; i < 32; i++) r |= ((a >> i) & 1) << (31 - i);
    return r ^ b;
}
static uint32_t op_square(uint32_t a, uint32_t b) { return a * a + b; }

static const binary_op operations[] = {
    op_add, op_sub, op_mul, op_xor, op_rotl, op_div, op_mod, op_min,
    op_max, op_popcount, op_reverse, op_square, op_add, op_xor, op_mul, op_sub,
};

static uint32_t run_operations(unsigned steps) {
    uint32_t acc = 1;
    for (unsigned i = 0; i < steps; i++) {
        uint32_t r = next_random();
        acc = operations[r & 15](acc, r >> 4);
    }
    return acc;
}

/* ---- shapes with virtual tables ---- */

struct shape;

struct shape_class {
    const char *name;
    uint64_t (*area)(const struct shape *);
    uint64_t (*perimeter)(const struct shape *);
    void (*grow)(struct shape *, uint32_t);
};

struct shape {
    const struct shape_class *class;
    uint32_t a, b, c;
};

static uint64_t rect_area(const struct shape *s) { return (uint64_t)s->a * s->b; }
static uint64_t rect_perimeter(const struct shape *s) { return 2 * ((uint64_t)s->a + s->b); }
static void rect_grow(struct shape *s, uint32_t by) {
    s->a += by;
    s->b += by / 2;
}

static uint64_t square_area(const struct shape *s) { return (uint64_t)s->a * s->a; }
static uint64_t square_perimeter(const struct shape *s) { return 4 * (uint64_t)s->a; }
static void square_grow(struct shape *s, uint32_t by) { s->a += by; }

/* A triangle with sides a, b, c: 16 * area^2 by Heron's formula. */
static uint64_t triangle_area(const struct shape *s) {
    uint64_t a = s->a, b = s->b, c = s->c;
    return (a + b + c) * (b + c - a) * (a + c - b) * (a + b - c);
}
static uint64_t triangle_perimeter(const struct shape *s) { return (uint64_t)s->a + s->b + s->c; }
static void triangle_grow(struct shape *s, uint32_t by) {
    s->a += by;
    s->b += by;
    s->c += by;
}

static const struct shape_class rect_class = {"rectangle", rect_area, rect_perimeter, rect_grow};
static const struct shape_class square_class = {"square", square_area, square_perimeter, square_grow};
static const struct shape_class triangle_class = {"triangle", triangle_area, triangle_perimeter, triangle_grow};
static const struct shape_class *const classes[] = {&rect_class, &square_class, &triangle_class};

static uint64_t run_shapes(unsigned count, unsigned *per_class) {
    struct shape *shapes = checked_malloc(count * sizeof *shapes);
    for (unsigned i = 0; i < count; i++) {
        uint32_t r = next_random();
        shapes[i].class = classes[r % 3];
        shapes[i].a = 10 + (r >> 8) % 50;
        shapes[i].b = 10 + (r >> 16) % 50;
        shapes[i].c = shapes[i].a > shapes[i].b ? shapes[i].a : shapes[i].b;
    }
    uint64_t total = 0;
    for (int pass = 0; pass < 8; pass++) {
        for (unsigned i = 0; i < count; i++) {
            struct shape *s = &shapes[i];
            total += s->class->area(s) + 3 * s->class->perimeter(s);
            s->class->grow(s, (uint32_t)pass);
        }
    }
    for (unsigned i = 0; i < count; i++)
        for (int k = 0; k < 3; k++)
            if (shapes[i].class == classes[k] && strcmp(shapes[i].class->name, classes[k]->name) == 0) per_class[k]++;
    free(shapes);
    return total;
}

/* ---- sorting with comparators ---- */

struct record {
    uint32_t id;
    int32_t score;
    char name[12];
};

static int by_score(const void *pa, const void *pb) {
    const struct record *a = pa, *b = pb;
    if (a->score != b->score) return a->score < b->score ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

static int by_name(const void *pa, const void *pb) {
    const struct record *a = pa, *b = pb;
    int c = strcmp(a->name, b->name);
    if (c) return c;
    return a->id < b->id ? -1 : a->id > b->id;
}

static int by_id_descending(const void *pa, const void *pb) {
    const struct record *a = pa, *b = pb;
    return a->id < b->id ? 1 : a->id > b->id ? -1 : 0;
}

static int compare_u32(const void *pa, const void *pb) {
    uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
    return (a > b) - (a < b);
}

static uint64_t hash_records(const struct record *records, unsigned count) {
    uint64_t h = 14695981039346656037ULL;
    for (unsigned i = 0; i < count; i++) h = (h ^ records[i].id) * 1099511628211ULL;
    return h;
}

static uint64_t run_sorting(unsigned count, uint64_t hashes[3], unsigned *found) {
    struct record *records = checked_malloc(count * sizeof *records);
    for (unsigned i = 0; i < count; i++) {
        uint32_t r = next_random();
        records[i].id = i * 2654435761u;
        records[i].score = (int32_t)(r % 2001) - 1000;
        for (int k = 0; k < 5; k++) records[i].name[k] = (char)('a' + (next_random() % 6));
        records[i].name[5] = '\0';
    }
    int (*const comparators[3])(const void *, const void *) = {by_score, by_name, by_id_descending};
    for (int k = 0; k < 3; k++) {
        qsort(records, count, sizeof *records, comparators[k]);
        hashes[k] = hash_records(records, count);
    }
    uint32_t *keys = checked_malloc(count * sizeof *keys);
    for (unsigned i = 0; i < count; i++) keys[i] = records[i].id;
    qsort(keys, count, sizeof *keys, compare_u32);
    *found = 0;
    for (unsigned i = 0; i < count; i++) {
        uint32_t probe = (i % 2) ? i * 2654435761u : next_random();
        if (bsearch(&probe, keys, count, sizeof *keys, compare_u32)) (*found)++;
    }
    uint64_t first = ((uint64_t)records[0].id << 32) | (uint32_t)records[count - 1].score;
    free(keys);
    free(records);
    return first;
}

/* ---- a state machine of functions ---- */

struct lexer {
    unsigned words, numbers, symbols, spaces;
    uint32_t hash;
};

struct state;
typedef struct state (*state_fn)(struct lexer *, char);
struct state {
    state_fn next;
};

static struct state in_space(struct lexer *lx, char c);
static struct state in_word(struct lexer *lx, char c);
static struct state in_number(struct lexer *lx, char c);

static struct state classify(struct lexer *lx, char c) {
    if (c >= 'a' && c <= 'z') {
        lx->words++;
        lx->hash = lx->hash * 33u + (unsigned char)c;
        return (struct state){in_word};
    }
    if (c >= '0' && c <= '9') {
        lx->numbers++;
        lx->hash = lx->hash * 37u + (unsigned char)c;
        return (struct state){in_number};
    }
    if (c == ' ') {
        lx->spaces++;
        return (struct state){in_space};
    }
    lx->symbols++;
    lx->hash ^= (unsigned char)c;
    return (struct state){in_space};
}

static struct state in_space(struct lexer *lx, char c) { return c == ' ' ? (struct state){in_space} : classify(lx, c); }

static struct state in_word(struct lexer *lx, char c) {
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
        lx->hash = lx->hash * 33u + (unsigned char)c;
        return (struct state){in_word};
    }
    return classify(lx, c);
}

static struct state in_number(struct lexer *lx, char c) {
    if (c >= '0' && c <= '9') {
        lx->hash = lx->hash * 37u + (unsigned char)c;
        return (struct state){in_number};
    }
    return classify(lx, c);
}

static struct lexer run_lexer(unsigned length) {
    static const char alphabet[] = "abcdefghij0123456789    +-*/(),;";
    char *text = checked_malloc(length + 1);
    for (unsigned i = 0; i < length; i++) text[i] = alphabet[next_random() % (sizeof alphabet - 1)];
    text[length] = '\0';
    struct lexer lx = {0, 0, 0, 0, 5381};
    struct state st = {in_space};
    for (const char *p = text; *p; p++) st = st.next(&lx, *p);
    free(text);
    return lx;
}

/* ---- callbacks through a generic fold ---- */

typedef uint64_t (*fold_fn)(uint64_t acc, uint32_t item, void *context);

static uint64_t fold_range(uint32_t from, uint32_t to, uint64_t acc, fold_fn f, void *context) {
    for (uint32_t i = from; i < to; i++) acc = f(acc, i, context);
    return acc;
}

static uint64_t sum_of_multiples(uint64_t acc, uint32_t item, void *context) {
    uint32_t divisor = *(const uint32_t *)context;
    return item % divisor == 0 ? acc + item : acc;
}

static uint64_t nested_fold(uint64_t acc, uint32_t item, void *context) {
    (void)context;
    uint32_t divisor = item % 7 + 2;
    return acc * 31 + fold_range(item, item + 40, item, sum_of_multiples, &divisor);
}

int main(int argc, char **argv) {
    int scale = argc > 1 ? atoi(argv[1]) : 1;
    if (scale < 1) scale = 1;

    uint64_t checksum = 0;
    uint32_t ops = 0;
    uint64_t shape_total = 0, first = 0, fold = 0;
    uint64_t hashes[3] = {0, 0, 0};
    unsigned per_class[3] = {0, 0, 0};
    unsigned found = 0;
    struct lexer lx = {0, 0, 0, 0, 0};
    for (int round = 0; round < scale; round++) {
        rng_state = 88172645463325252ULL + (uint64_t)round;
        ops = run_operations(OPERATION_STEPS);
        shape_total = run_shapes(SHAPE_COUNT, per_class);
        first = run_sorting(RECORD_COUNT, hashes, &found);
        lx = run_lexer(TEXT_LENGTH);
        fold = fold_range(0, 1000, (uint64_t)round, nested_fold, NULL);
        checksum = checksum * 31 + ops;
        checksum = checksum * 31 + shape_total;
        checksum = checksum * 31 + first + hashes[0] + hashes[1] * 3 + hashes[2] * 5 + found;
        checksum = checksum * 31 + lx.hash + lx.words + lx.numbers + lx.symbols + lx.spaces;
        checksum = checksum * 31 + fold;
    }
    printf("operations: %08x\n", ops);
    printf("shapes: total %llu; %u rectangles, %u squares, %u triangles\n", (unsigned long long)shape_total,
           per_class[0], per_class[1], per_class[2]);
    printf("sorted: %016llx %016llx %016llx first %016llx found %u\n", (unsigned long long)hashes[0],
           (unsigned long long)hashes[1], (unsigned long long)hashes[2], (unsigned long long)first, found);
    printf("lexer: %u words, %u numbers, %u symbols, %u spaces, hash %08x\n", lx.words, lx.numbers, lx.symbols,
           lx.spaces, lx.hash);
    printf("fold: %016llx\n", (unsigned long long)fold);
    printf("checksum = %016llx\n", (unsigned long long)checksum);
    return 0;
}
