/* The same program built by `weft compile` and by plain clang must print
 * the same bytes and exit the same way (floats, loops, the heap, qsort). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(void) {
    size_t n = 1000;
    double *values = malloc(n * sizeof *values);
    if (values == NULL)
        return 2;
    unsigned state = 12345;
    for (size_t i = 0; i < n; i++) {
        state = state * 1103515245u + 12345u;
        values[i] = (double)(state >> 8) / 65536.0 - 128.0;
    }
    qsort(values, n, sizeof *values, by_value);
    double sum = 0, squares = 0;
    for (size_t i = 0; i < n; i++) {
        sum += values[i];
        squares += values[i] * values[i];
    }
    double mean = sum / (double)n;
    printf("min %.6f max %.6f\n", values[0], values[n - 1]);
    printf("mean %.9g stddev %.9g\n", mean, sqrt(squares / (double)n - mean * mean));
    printf("exp %e sin %a\n", exp(mean / 16), sin(values[n / 2]));

    char *text = NULL;
    size_t length = 0;
    for (int i = 1; i <= 40; i++) {
        char word[32];
        int w = snprintf(word, sizeof word, "%d%s", i * i, i % 7 ? "," : ";\n");
        text = realloc(text, length + (size_t)w + 1);
        if (text == NULL)
            return 2;
        memcpy(text + length, word, (size_t)w + 1);
        length += (size_t)w;
    }
    fputs(text, stdout);
    printf("\n%zu bytes of squares\n", strlen(text));
    free(text);
    free(values);
    return 3;
}
