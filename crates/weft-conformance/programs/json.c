/*
 * A JSON parser and serializer: random documents are generated, parsed into
 * trees by recursive descent, queried, serialized and parsed again to check
 * the round trip; a deeply nested document exercises the recursion, and a
 * list of malformed documents exercises error reporting.
 *
 * The program ends through exit() from inside a helper, with an atexit
 * handler printing the summary. Its exit status is the number of malformed
 * documents rejected (6), so a non-zero status is the expected outcome.
 *
 * Usage: json [SCALE]   (SCALE >= 1, default 1; work grows linearly)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DOCUMENTS_PER_ROUND 6
#define NESTING_DEPTH 200

static uint64_t rng_state;

static uint32_t next_random(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ULL) >> 32);
}

static void *checked_malloc(size_t size) {
    void *p = malloc(size);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(100);
    }
    return p;
}

static void *checked_realloc(void *old, size_t size) {
    void *p = realloc(old, size);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(100);
    }
    return p;
}

/* ---- text buffers ---- */

struct text {
    char *data;
    size_t length, capacity;
};

static void text_putn(struct text *t, const char *s, size_t n) {
    if (t->length + n + 1 > t->capacity) {
        size_t capacity = t->capacity ? t->capacity * 2 : 256;
        while (t->length + n + 1 > capacity) capacity *= 2;
        t->data = checked_realloc(t->data, capacity);
        t->capacity = capacity;
    }
    memcpy(t->data + t->length, s, n);
    t->length += n;
    t->data[t->length] = '\0';
}

static void text_puts(struct text *t, const char *s) { text_putn(t, s, strlen(s)); }

static void text_putc(struct text *t, char c) { text_putn(t, &c, 1); }

/* ---- values ---- */

enum kind { JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct value {
    enum kind kind;
    double number;
    char *string;            /* JSON_STRING */
    struct value **items;    /* JSON_ARRAY and JSON_OBJECT */
    char **keys;             /* JSON_OBJECT */
    size_t count;
};

static struct value *value_new(enum kind kind) {
    struct value *v = checked_malloc(sizeof *v);
    memset(v, 0, sizeof *v);
    v->kind = kind;
    return v;
}

static void value_free(struct value *v) {
    if (!v) return;
    for (size_t i = 0; i < v->count; i++) {
        value_free(v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->string);
    free(v);
}

/* ---- the parser ---- */

struct parser {
    const char *text;
    size_t pos;
    const char *error;
    size_t error_pos;
    unsigned depth, max_depth;
};

static int fail(struct parser *p, const char *message) {
    if (!p->error) {
        p->error = message;
        p->error_pos = p->pos;
    }
    return 0;
}

static void skip_space(struct parser *p) {
    while (p->text[p->pos] == ' ' || p->text[p->pos] == '\n' || p->text[p->pos] == '\t' || p->text[p->pos] == '\r')
        p->pos++;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void put_utf8(struct text *t, uint32_t code) {
    char bytes[4];
    if (code < 0x80) {
        text_putc(t, (char)code);
    } else if (code < 0x800) {
        bytes[0] = (char)(0xc0 | (code >> 6));
        bytes[1] = (char)(0x80 | (code & 0x3f));
        text_putn(t, bytes, 2);
    } else {
        bytes[0] = (char)(0xe0 | (code >> 12));
        bytes[1] = (char)(0x80 | ((code >> 6) & 0x3f));
        bytes[2] = (char)(0x80 | (code & 0x3f));
        text_putn(t, bytes, 3);
    }
}

static char *parse_string(struct parser *p) {
    struct text out = {NULL, 0, 0};
    text_putn(&out, "", 0);
    p->pos++; /* the opening quote */
    for (;;) {
        char c = p->text[p->pos];
        if (c == '"') {
            p->pos++;
            return out.data;
        }
        if (c == '\0' || (unsigned char)c < 0x20) {
            fail(p, "unterminated string");
            free(out.data);
            return NULL;
        }
        if (c != '\\') {
            text_putc(&out, c);
            p->pos++;
            continue;
        }
        char e = p->text[p->pos + 1];
        p->pos += 2;
        switch (e) {
        case '"': text_putc(&out, '"'); break;
        case '\\': text_putc(&out, '\\'); break;
        case '/': text_putc(&out, '/'); break;
        case 'b': text_putc(&out, '\b'); break;
        case 'f': text_putc(&out, '\f'); break;
        case 'n': text_putc(&out, '\n'); break;
        case 'r': text_putc(&out, '\r'); break;
        case 't': text_putc(&out, '\t'); break;
        case 'u': {
            uint32_t code = 0;
            for (int i = 0; i < 4; i++) {
                int d = hex_digit(p->text[p->pos]);
                if (d < 0) {
                    fail(p, "bad unicode escape");
                    free(out.data);
                    return NULL;
                }
                code = code * 16 + (uint32_t)d;
                p->pos++;
            }
            put_utf8(&out, code);
            break;
        }
        default:
            p->pos -= 1;
            fail(p, "bad escape");
            free(out.data);
            return NULL;
        }
    }
}

static struct value *parse_value(struct parser *p);

static int parse_number(struct parser *p, double *out) {
    const char *start = p->text + p->pos;
    const char *s = start;
    if (*s == '-') s++;
    if (*s == '0') {
        s++;
    } else if (*s >= '1' && *s <= '9') {
        while (*s >= '0' && *s <= '9') s++;
    } else {
        return fail(p, "bad number");
    }
    if (*s == '.') {
        s++;
        if (!(*s >= '0' && *s <= '9')) return fail(p, "digit expected after the decimal point");
        while (*s >= '0' && *s <= '9') s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-') s++;
        if (!(*s >= '0' && *s <= '9')) return fail(p, "digit expected in the exponent");
        while (*s >= '0' && *s <= '9') s++;
    }
    *out = strtod(start, NULL);
    p->pos += (size_t)(s - start);
    return 1;
}

static int push_item(struct value *v, size_t *capacity, struct value *item, char *key) {
    if (v->count == *capacity) {
        *capacity = *capacity ? *capacity * 2 : 4;
        v->items = checked_realloc(v->items, *capacity * sizeof *v->items);
        if (v->kind == JSON_OBJECT) v->keys = checked_realloc(v->keys, *capacity * sizeof *v->keys);
    }
    v->items[v->count] = item;
    if (v->kind == JSON_OBJECT) v->keys[v->count] = key;
    v->count++;
    return 1;
}

static struct value *parse_container(struct parser *p, enum kind kind) {
    char close = kind == JSON_ARRAY ? ']' : '}';
    struct value *v = value_new(kind);
    size_t capacity = 0;
    p->pos++;
    if (++p->depth > p->max_depth) p->max_depth = p->depth;
    skip_space(p);
    if (p->text[p->pos] == close) {
        p->pos++;
        p->depth--;
        return v;
    }
    for (;;) {
        char *key = NULL;
        skip_space(p);
        if (kind == JSON_OBJECT) {
            if (p->text[p->pos] != '"') {
                fail(p, "object key expected");
                break;
            }
            key = parse_string(p);
            if (!key) break;
            skip_space(p);
            if (p->text[p->pos] != ':') {
                fail(p, "':' expected");
                free(key);
                break;
            }
            p->pos++;
        }
        struct value *item = parse_value(p);
        if (!item) {
            free(key);
            break;
        }
        push_item(v, &capacity, item, key);
        skip_space(p);
        if (p->text[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->text[p->pos] == close) {
            p->pos++;
            p->depth--;
            return v;
        }
        fail(p, kind == JSON_ARRAY ? "',' or ']' expected" : "',' or '}' expected");
        break;
    }
    value_free(v);
    return NULL;
}

static int literal(struct parser *p, const char *word) {
    size_t n = strlen(word);
    if (strncmp(p->text + p->pos, word, n) != 0) return fail(p, "unknown literal");
    p->pos += n;
    return 1;
}

static struct value *parse_value(struct parser *p) {
    skip_space(p);
    char c = p->text[p->pos];
    struct value *v;
    switch (c) {
    case '{': return parse_container(p, JSON_OBJECT);
    case '[': return parse_container(p, JSON_ARRAY);
    case '"': {
        char *s = parse_string(p);
        if (!s) return NULL;
        v = value_new(JSON_STRING);
        v->string = s;
        return v;
    }
    case 't': return literal(p, "true") ? value_new(JSON_TRUE) : NULL;
    case 'f': return literal(p, "false") ? value_new(JSON_FALSE) : NULL;
    case 'n': return literal(p, "null") ? value_new(JSON_NULL) : NULL;
    case '\0': fail(p, "unexpected end of input"); return NULL;
    default: {
        double number;
        if (!parse_number(p, &number)) return NULL;
        v = value_new(JSON_NUMBER);
        v->number = number;
        return v;
    }
    }
}

static struct value *parse_document(const char *text, struct parser *p) {
    memset(p, 0, sizeof *p);
    p->text = text;
    struct value *v = parse_value(p);
    if (!v) return NULL;
    skip_space(p);
    if (p->text[p->pos] != '\0') {
        fail(p, "trailing characters");
        value_free(v);
        return NULL;
    }
    return v;
}

/* ---- the serializer ---- */

static void serialize_string(struct text *t, const char *s) {
    text_putc(t, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '"': text_puts(t, "\\\""); break;
        case '\\': text_puts(t, "\\\\"); break;
        case '\n': text_puts(t, "\\n"); break;
        case '\t': text_puts(t, "\\t"); break;
        default:
            if (c < 0x20) {
                char escape[8];
                snprintf(escape, sizeof escape, "\\u%04x", c);
                text_puts(t, escape);
            } else {
                text_putc(t, (char)c);
            }
        }
    }
    text_putc(t, '"');
}

static void serialize(struct text *t, const struct value *v) {
    char number[40];
    switch (v->kind) {
    case JSON_NULL: text_puts(t, "null"); break;
    case JSON_FALSE: text_puts(t, "false"); break;
    case JSON_TRUE: text_puts(t, "true"); break;
    case JSON_NUMBER:
        snprintf(number, sizeof number, "%.17g", v->number);
        text_puts(t, number);
        break;
    case JSON_STRING: serialize_string(t, v->string); break;
    case JSON_ARRAY:
    case JSON_OBJECT:
        text_putc(t, v->kind == JSON_ARRAY ? '[' : '{');
        for (size_t i = 0; i < v->count; i++) {
            if (i) text_putc(t, ',');
            if (v->kind == JSON_OBJECT) {
                serialize_string(t, v->keys[i]);
                text_putc(t, ':');
            }
            serialize(t, v->items[i]);
        }
        text_putc(t, v->kind == JSON_ARRAY ? ']' : '}');
        break;
    }
}

/* ---- the generator ---- */

static const char *const key_names[] = {"id", "name", "tags", "value", "children", "meta", "x", "y", "ratio", "note"};

static void generate(struct text *t, int depth) {
    uint32_t r = next_random();
    int choice = depth >= 5 ? (int)(r % 5) : (int)(r % 8);
    char buffer[64];
    switch (choice) {
    case 0: text_puts(t, (r >> 8) & 1 ? "true" : ((r >> 9) & 1 ? "false" : "null")); break;
    case 1:
        snprintf(buffer, sizeof buffer, "%d", (int)(next_random() % 200001) - 100000);
        text_puts(t, buffer);
        break;
    case 2:
        snprintf(buffer, sizeof buffer, "%.*f", (int)(r % 7), (double)(int32_t)next_random() / 4096.0);
        text_puts(t, buffer);
        break;
    case 3:
        snprintf(buffer, sizeof buffer, "%de%d", (int)(next_random() % 1000), (int)(r >> 8) % 40 - 20);
        text_puts(t, buffer);
        break;
    case 4: {
        static const char *const pieces[] = {"abc", " ", "\\n", "\\\"", "\\u00e9", "\\u263a", "xyz", "\\\\", "\\t", "0"};
        text_putc(t, '"');
        int n = (int)(next_random() % 8);
        for (int i = 0; i < n; i++) text_puts(t, pieces[next_random() % 10]);
        text_putc(t, '"');
        break;
    }
    case 5:
    case 6: {
        int n = (int)(next_random() % 6);
        text_puts(t, "[ ");
        for (int i = 0; i < n; i++) {
            if (i) text_puts(t, ", ");
            generate(t, depth + 1);
        }
        text_puts(t, "]");
        break;
    }
    default: {
        int n = (int)(next_random() % 6);
        text_puts(t, "{");
        for (int i = 0; i < n; i++) {
            if (i) text_puts(t, ",\n");
            text_putc(t, '"');
            text_puts(t, key_names[next_random() % 10]);
            text_puts(t, "\" : ");
            generate(t, depth + 1);
        }
        text_puts(t, "}");
        break;
    }
    }
}

/* ---- queries ---- */

struct stats {
    unsigned counts[7];
    double number_sum;
    size_t longest_string;
    unsigned ratio_keys;
};

static void collect(const struct value *v, struct stats *s) {
    s->counts[v->kind]++;
    if (v->kind == JSON_NUMBER) s->number_sum += v->number;
    if (v->kind == JSON_STRING && strlen(v->string) > s->longest_string) s->longest_string = strlen(v->string);
    for (size_t i = 0; i < v->count; i++) {
        if (v->keys && strcmp(v->keys[i], "ratio") == 0) s->ratio_keys++;
        collect(v->items[i], s);
    }
}

static uint32_t hash_text(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* ---- ending the program ---- */

static int rejected_documents;
static uint32_t final_checksum;

static void print_summary(void) {
    printf("summary: %d malformed documents rejected, checksum %08x\n", rejected_documents, final_checksum);
}

static void finish(void) { exit(rejected_documents); }

int main(int argc, char **argv) {
    int scale = argc > 1 ? atoi(argv[1]) : 1;
    if (scale < 1) scale = 1;
    atexit(print_summary);

    struct stats stats;
    memset(&stats, 0, sizeof stats);
    uint32_t checksum = 0;
    unsigned documents = 0, round_trip_failures = 0;
    size_t bytes = 0;
    unsigned max_depth = 0;
    for (int round = 0; round < scale; round++) {
        rng_state = 0x2545f4914f6cdd1dULL + (uint64_t)round;
        for (int d = 0; d < DOCUMENTS_PER_ROUND; d++) {
            struct text source = {NULL, 0, 0};
            text_puts(&source, "{\"document\": ");
            generate(&source, 0);
            text_puts(&source, ", \"items\": [");
            for (int i = 0; i < 3; i++) {
                if (i) text_puts(&source, ",");
                generate(&source, 1);
            }
            text_puts(&source, "]}");
            struct parser parser;
            struct value *v = parse_document(source.data, &parser);
            if (!v) {
                printf("generated document %d rejected: %s at %zu\n", d, parser.error, parser.error_pos);
                free(source.data);
                continue;
            }
            if (parser.max_depth > max_depth) max_depth = parser.max_depth;
            collect(v, &stats);
            struct text once = {NULL, 0, 0}, twice = {NULL, 0, 0};
            serialize(&once, v);
            struct value *again = parse_document(once.data, &parser);
            if (again) serialize(&twice, again);
            if (!again || strcmp(once.data, twice.data) != 0) round_trip_failures++;
            checksum = checksum * 31 + hash_text(once.data);
            bytes += source.length;
            documents++;
            value_free(v);
            value_free(again);
            free(once.data);
            free(twice.data);
            free(source.data);
        }

        struct text nested = {NULL, 0, 0};
        for (int i = 0; i < NESTING_DEPTH; i++) text_puts(&nested, i % 2 ? "{\"k\":" : "[");
        text_puts(&nested, "42");
        for (int i = NESTING_DEPTH - 1; i >= 0; i--) text_puts(&nested, i % 2 ? "}" : "]");
        struct parser parser;
        struct value *deep = parse_document(nested.data, &parser);
        if (deep) {
            struct text out = {NULL, 0, 0};
            serialize(&out, deep);
            checksum = checksum * 31 + hash_text(out.data) + (strcmp(out.data, nested.data) == 0);
            if (parser.max_depth > max_depth) max_depth = parser.max_depth;
            free(out.data);
            value_free(deep);
        }
        free(nested.data);
    }

    printf("%u documents, %zu bytes, deepest nesting %u, round-trip failures %u\n", documents, bytes, max_depth,
           round_trip_failures);
    printf("nulls %u, falses %u, trues %u, numbers %u, strings %u, arrays %u, objects %u\n", stats.counts[0],
           stats.counts[1], stats.counts[2], stats.counts[3], stats.counts[4], stats.counts[5], stats.counts[6]);
    printf("sum of numbers %.6e, longest string %zu bytes, %u \"ratio\" keys\n", stats.number_sum,
           stats.longest_string, stats.ratio_keys);

    static const char *const samples[] = {
        "[]", "{}", "\"\\u0041\\u00e9\\u4e2d\"", "-0", "1E+2", "[1,[2,[3,{\"a\":null}]]]",
        "[1,2,]", "{\"a\" 1}", "\"abc", "01", "[1e]", "{\"a\":tru}", "  null  ",
    };
    for (size_t i = 0; i < sizeof samples / sizeof *samples; i++) {
        struct parser parser;
        struct value *v = parse_document(samples[i], &parser);
        if (v) {
            struct text out = {NULL, 0, 0};
            serialize(&out, v);
            printf("ok    %-28s -> %s\n", samples[i], out.data);
            free(out.data);
            value_free(v);
        } else {
            printf("error %-28s -> %s at offset %zu\n", samples[i], parser.error, parser.error_pos);
            rejected_documents++;
        }
    }
    final_checksum = checksum;
    finish();
    return 0;
}
