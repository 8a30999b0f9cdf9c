/*
 * bomb: a hostile script that allocates memory for ever, 1 MiB at a time,
 * touching every byte. The host's memory limit stops its growth; it logs
 * `bomb: out of memory after N MiB` once and keeps trying.
 */
#include <stdlib.h>
#include <string.h>
#include <weft.h>

#define CHUNK (1024 * 1024)

/* Chunks stay reachable from here, so the compiler keeps every allocation. */
static void *volatile newest;

int main(void) {
    long mebibytes = 0;
    int reported = 0;
    for (;;) {
        char *chunk = malloc(CHUNK);
        if (chunk == NULL) {
            if (!reported)
                weft_logf("bomb: out of memory after %ld MiB", mebibytes);
            reported = 1;
            continue;
        }
        memset(chunk, 0xAB, CHUNK);
        *(void **)chunk = newest; /* chain the chunks */
        newest = chunk;
        mebibytes++;
    }
}
