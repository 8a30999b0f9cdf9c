/*
 * Allocation churn and string work: words generated from syllables are kept
 * in a linked list and a chained hash table, sorted, joined into a growing
 * buffer, split again, transformed, compared by edit distance and freed; a
 * pool of blocks is allocated, resized, verified and freed at random; text
 * is formatted through a variadic helper.
 *
 * Usage: strings [SCALE]   (SCALE >= 1, default 1; work grows linearly)
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORD_COUNT 300
#define BUCKETS 1021
#define POOL_SLOTS 64
#define POOL_OPERATIONS 400

static uint64_t rng_state;

static uint32_t next_random(void) {
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng_state >> 33);
}

static void *checked_malloc(size_t size) {
    void *p = malloc(size);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

static void *checked_realloc(void *old, size_t size) {
    void *p = realloc(old, size);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

static char *duplicate(const char *s) {
    size_t n = strlen(s) + 1;
    char *copy = checked_malloc(n);
    memcpy(copy, s, n);
    return copy;
}

static uint32_t fnv1a(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* ---- words ---- */

static const char *const syllables[] = {"ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "vu", "zen", "qua", "th"};

static char *make_word(void) {
    char buffer[64];
    size_t length = 0;
    int parts = 1 + (int)(next_random() % 4);
    for (int i = 0; i < parts; i++) {
        const char *s = syllables[next_random() % (sizeof syllables / sizeof *syllables)];
        size_t n = strlen(s);
        memcpy(buffer + length, s, n);
        length += n;
    }
    buffer[length] = '\0';
    return duplicate(buffer);
}

struct list_node {
    struct list_node *next;
    char *word;
};

struct entry {
    struct entry *next;
    char *word;
    unsigned count;
};

struct table {
    struct entry *buckets[BUCKETS];
    unsigned unique;
};

static void table_add(struct table *t, const char *word) {
    uint32_t b = fnv1a(word) % BUCKETS;
    for (struct entry *e = t->buckets[b]; e; e = e->next) {
        if (strcmp(e->word, word) == 0) {
            e->count++;
            return;
        }
    }
    struct entry *e = checked_malloc(sizeof *e);
    e->word = duplicate(word);
    e->count = 1;
    e->next = t->buckets[b];
    t->buckets[b] = e;
    t->unique++;
}

static void table_free(struct table *t) {
    for (int b = 0; b < BUCKETS; b++) {
        struct entry *e = t->buckets[b];
        while (e) {
            struct entry *next = e->next;
            free(e->word);
            free(e);
            e = next;
        }
        t->buckets[b] = NULL;
    }
    t->unique = 0;
}

/* Merge sort of a linked list by strcmp. Equal words are indistinguishable,
 * so the sorted sequence does not depend on how ties are merged. */
static struct list_node *merge_sort(struct list_node *head) {
    if (!head || !head->next) return head;
    struct list_node *slow = head, *fast = head->next;
    while (fast && fast->next) {
        slow = slow->next;
        fast = fast->next->next;
    }
    struct list_node *second = slow->next;
    slow->next = NULL;
    struct list_node *a = merge_sort(head), *b = merge_sort(second);
    struct list_node dummy = {NULL, NULL}, *tail = &dummy;
    while (a && b) {
        if (strcmp(a->word, b->word) <= 0) {
            tail->next = a;
            a = a->next;
        } else {
            tail->next = b;
            b = b->next;
        }
        tail = tail->next;
    }
    tail->next = a ? a : b;
    return dummy.next;
}

/* ---- a growable string ---- */

struct string_builder {
    char *data;
    size_t length, capacity;
};

static void sb_append(struct string_builder *sb, const char *s, size_t n) {
    if (sb->length + n + 1 > sb->capacity) {
        size_t capacity = sb->capacity ? sb->capacity : 16;
        while (sb->length + n + 1 > capacity) capacity *= 2;
        sb->data = checked_realloc(sb->data, capacity);
        sb->capacity = capacity;
    }
    memcpy(sb->data + sb->length, s, n);
    sb->length += n;
    sb->data[sb->length] = '\0';
}

static void sb_printf(struct string_builder *sb, const char *format, ...) {
    char small[32];
    va_list args;
    va_start(args, format);
    int n = vsnprintf(small, sizeof small, format, args);
    va_end(args);
    if (n < 0) return;
    if ((size_t)n < sizeof small) {
        sb_append(sb, small, (size_t)n);
        return;
    }
    char *large = checked_malloc((size_t)n + 1);
    va_start(args, format);
    vsnprintf(large, (size_t)n + 1, format, args);
    va_end(args);
    sb_append(sb, large, (size_t)n);
    free(large);
}

/* ---- edit distance ---- */

static unsigned edit_distance(const char *a, const char *b) {
    size_t n = strlen(a), m = strlen(b);
    unsigned *previous = checked_malloc((m + 1) * sizeof *previous);
    unsigned *current = checked_malloc((m + 1) * sizeof *current);
    for (size_t j = 0; j <= m; j++) previous[j] = (unsigned)j;
    for (size_t i = 1; i <= n; i++) {
        current[0] = (unsigned)i;
        for (size_t j = 1; j <= m; j++) {
            unsigned substitute = previous[j - 1] + (a[i - 1] != b[j - 1]);
            unsigned removal = previous[j] + 1, insertion = current[j - 1] + 1;
            unsigned best = substitute < removal ? substitute : removal;
            current[j] = best < insertion ? best : insertion;
        }
        unsigned *swap = previous;
        previous = current;
        current = swap;
    }
    unsigned result = previous[m];
    free(previous);
    free(current);
    return result;
}

/* ---- the allocation pool ---- */

static uint64_t churn(unsigned operations) {
    void *slots[POOL_SLOTS] = {0};
    size_t sizes[POOL_SLOTS] = {0};
    uint8_t tags[POOL_SLOTS] = {0};
    uint64_t verified = 0;
    for (unsigned i = 0; i < operations; i++) {
        uint32_t r = next_random();
        unsigned slot = r % POOL_SLOTS;
        size_t size = 1 + (r >> 9) % ((r & 0x100) ? 1024 : 48);
        if (slots[slot]) {
            const uint8_t *p = slots[slot];
            for (size_t k = 0; k < sizes[slot]; k++) {
                if (p[k] != (uint8_t)(tags[slot] + k)) {
                    printf("corrupted block in slot %u\n", slot);
                    exit(1);
                }
            }
            verified += sizes[slot];
            if (r & 0x200) {
                free(slots[slot]);
                slots[slot] = NULL;
                continue;
            }
            slots[slot] = checked_realloc(slots[slot], size);
        } else {
            slots[slot] = checked_malloc(size);
        }
        sizes[slot] = size;
        tags[slot] = (uint8_t)(r >> 24);
        uint8_t *p = slots[slot];
        for (size_t k = 0; k < size; k++) p[k] = (uint8_t)(tags[slot] + k);
    }
    for (unsigned slot = 0; slot < POOL_SLOTS; slot++) free(slots[slot]);
    return verified;
}

int main(int argc, char **argv) {
    int scale = argc > 1 ? atoi(argv[1]) : 1;
    if (scale < 1) scale = 1;

    static struct table table;
    uint64_t checksum = 0;
    unsigned unique = 0, most_frequent = 0, tokens = 0, distance_sum = 0;
    char first[64] = "", last[64] = "", common[64] = "";
    uint32_t joined_hash = 0, transformed_hash = 0;
    size_t joined_length = 0;
    uint64_t verified = 0;
    for (int round = 0; round < scale; round++) {
        rng_state = 0xfeedfaceULL + (uint64_t)round;

        struct list_node *list = NULL;
        for (int i = 0; i < WORD_COUNT; i++) {
            struct list_node *node = checked_malloc(sizeof *node);
            node->word = make_word();
            node->next = list;
            list = node;
        }
        for (struct list_node *n = list; n; n = n->next) table_add(&table, n->word);
        unique = table.unique;
        most_frequent = 0;
        common[0] = '\0';
        for (int b = 0; b < BUCKETS; b++) {
            for (struct entry *e = table.buckets[b]; e; e = e->next) {
                if (e->count > most_frequent || (e->count == most_frequent && strcmp(e->word, common) < 0)) {
                    most_frequent = e->count;
                    snprintf(common, sizeof common, "%s", e->word);
                }
            }
        }
        table_free(&table);

        list = merge_sort(list);
        snprintf(first, sizeof first, "%s", list->word);
        struct string_builder joined = {NULL, 0, 0};
        unsigned index = 0;
        for (struct list_node *n = list; n; n = n->next, index++) {
            if (index % 50 == 0) sb_printf(&joined, "[%04u:%-6.6s|%5zu]", index, n->word, strlen(n->word));
            sb_append(&joined, n->word, strlen(n->word));
            sb_append(&joined, n->next ? "," : "", n->next ? 1 : 0);
            if (!n->next) snprintf(last, sizeof last, "%s", n->word);
        }
        joined_hash = fnv1a(joined.data);
        joined_length = joined.length;

        /* Split the joined text again, reverse and capitalise each token. */
        transformed_hash = 2166136261u;
        tokens = 0;
        char *save = NULL;
        for (char *token = strtok_r(joined.data, ",[]|:", &save); token; token = strtok_r(NULL, ",[]|:", &save)) {
            size_t n = strlen(token);
            for (size_t i = 0; i < n / 2; i++) {
                char c = token[i];
                token[i] = token[n - 1 - i];
                token[n - 1 - i] = c;
            }
            token[0] = (char)toupper((unsigned char)token[0]);
            if (strstr(token, "ak") || strchr(token, 'z')) memmove(token + 1, token, n - 1);
            transformed_hash = (transformed_hash ^ fnv1a(token)) * 16777619u;
            tokens++;
        }
        free(joined.data);

        distance_sum = 0;
        struct list_node *previous = NULL;
        index = 0;
        for (struct list_node *n = list; n; n = n->next, index++) {
            if (previous && index % 7 == 0) distance_sum += edit_distance(previous->word, n->word);
            if (index % 7 == 6) previous = n;
        }

        while (list) {
            struct list_node *next = list->next;
            free(list->word);
            free(list);
            list = next;
        }

        verified = churn(POOL_OPERATIONS);

        checksum = checksum * 1099511628211ULL ^ unique;
        checksum = checksum * 1099511628211ULL ^ most_frequent;
        checksum = checksum * 1099511628211ULL ^ joined_hash;
        checksum = checksum * 1099511628211ULL ^ transformed_hash;
        checksum = checksum * 1099511628211ULL ^ tokens;
        checksum = checksum * 1099511628211ULL ^ distance_sum;
        checksum = checksum * 1099511628211ULL ^ verified;
    }

    printf("%u unique words of %d; most frequent \"%s\" (%u times)\n", unique, WORD_COUNT, common, most_frequent);
    printf("first \"%s\", last \"%s\"\n", first, last);
    printf("joined: %zu bytes, hash %08x\n", joined_length, joined_hash);
    printf("tokens: %u, transformed hash %08x\n", tokens, transformed_hash);
    printf("sum of edit distances: %u\n", distance_sum);
    printf("pool bytes verified: %" PRIu64 "\n", verified);
    printf("checksum = %016" PRIx64 "\n", checksum);
    return 0;
}
