/*
 * counter: logs `count 1` .. `count N` (N = argv[1], default 10), one line
 * every 10 ms. The last count is kept in the key-value store under "count"
 * (as decimal text), so a restarted copy goes on where it stopped.
 */
#include <stdlib.h>
#include <weft.h>

static long parse_count(const char *text, long fallback) {
    char *end;
    long n = strtol(text, &end, 10);
    return end != text && *end == '\0' && n >= 0 ? n : fallback;
}

int main(int argc, char **argv) {
    long limit = argc > 1 ? parse_count(argv[1], 10) : 10;

    char stored[32];
    long count = 0;
    if (weft_kv_get_str("count", stored, sizeof stored) >= 0)
        count = parse_count(stored, 0);

    while (count < limit) {
        count++;
        weft_logf("count %ld", count);
        char text[32];
        snprintf(text, sizeof text, "%ld", count);
        weft_kv_set_str("count", text);
        if (count < limit)
            weft_sleep_ms(10);
    }
    return 0;
}
