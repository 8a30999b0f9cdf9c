/*
 * Floating point and its formatting: a table of libm functions printed with
 * %f, %e and %g, a gallery of conversions of special and boundary values,
 * printf/strtod round trips of random doubles, Simpson integration, a Monte
 * Carlo estimate, single-precision accumulation and an ASCII Mandelbrot set.
 *
 * libm results are printed with few enough digits that implementations
 * differing in the last bit print the same text; values computed with
 * + - * / and sqrt only are compared bit for bit.
 *
 * Usage: floats [SCALE]   (SCALE >= 1, default 1; work grows linearly)
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state;

static uint64_t next_random(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A uniform double in [0, 1). */
static double next_unit(void) { return (double)(next_random() >> 11) * 0x1.0p-53; }

static uint64_t bits_of(double x) {
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    return bits;
}

static uint64_t fold(uint64_t hash, uint64_t value) { return (hash ^ value) * 0x100000001b3ULL + (value >> 29); }

static void print_function_table(void) {
    printf("%6s %10s %10s %14s %10s %10s %12s\n", "x", "sin", "cos", "exp", "sqrt|x|", "atan", "log1p|x|");
    for (int i = 0; i <= 24; i++) {
        double x = -6.0 + 0.5 * i;
        printf("%6.2f %+10.6f %+10.6f %14.6e %10.6g %10.5f %12g\n", x, sin(x), cos(x), exp(x), sqrt(fabs(x)),
               atan(x), log1p(fabs(x)));
    }
    for (int k = -3; k <= 3; k++) {
        double x = pow(10.0, k) * 1.25;
        printf("x=%-10g tan=%.6e cbrt=%.6f log10=%+.6f pow(x,1.5)=%.6g hypot(x,3)=%.8g\n", x, tan(x), cbrt(x),
               log10(x), pow(x, 1.5), hypot(x, 3.0));
    }
}

static void print_gallery(void) {
    static const double values[] = {
        0.0,  -0.0, 1.0,   0.1,   1.0 / 3.0, -2.0 / 3.0, 0.5, 1.5, 2.5, 1e-5, 123456789.0, 9.999999e-5,
        1e21, 1e22, 1e-300, 4.9406564584124654e-324, 2.2250738585072014e-308, 1e100, 65536.0, 0.000123456,
    };
    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
        double v = values[i];
        printf("%f|%e|%g|%.0f|%.0e|%#.0f|%#g|%10.3f|%-12.3e|%+g|% g|%010.2f|%.17g|%.3g\n", v, v, v, v, v, v, v, v, v,
               v, v, v, v, v);
    }
    printf("%.20f %.25e %.30g\n", 0.1, 1.0 / 3.0, 2.0 / 3.0);
    printf("%f %e %g %F %E %G\n", INFINITY, -INFINITY, (double)NAN, INFINITY, -INFINITY, (double)NAN);
    printf("%5.1f|%-8g|%08.3f|%+.2e\n", -INFINITY, (double)NAN, INFINITY, INFINITY);
    printf("max %.17g min %.17g eps %.17g\n", DBL_MAX, DBL_MIN, DBL_EPSILON);
    printf("%.0f\n", DBL_MAX);
    printf("%.3f %.3f %.3f %.3f\n", 0.0005, 0.0015, 0.0025, 1.0005);
    printf("%.1f %.1f %.1f %.1f\n", 0.25, 0.35, 0.45, -0.05);
    printf("float: %f %e %g %.9g\n", 1.0f / 3.0f, 3.4028235e38f, 1.17549435e-38f, 16777217.0f);

    static const char *const inputs[] = {
        "1e23", "8.98846567431158e307", "2.2250738585072011e-308", "0x1.8p1", "  -12.5e-3xyz", "1e400",
        "-1e-400", "inf", "-Infinity", "nan", "0.1e1", ".5", "5.", "1_000", "", "+0x1p-1074", "4.35", "3.14159265358979323846264338327950288",
    };
    for (size_t i = 0; i < sizeof inputs / sizeof *inputs; i++) {
        char *end;
        errno = 0;
        double v = strtod(inputs[i], &end);
        printf("strtod(\"%s\") = %.17g, consumed %d, %s\n", inputs[i], v, (int)(end - inputs[i]),
               errno == ERANGE ? "ERANGE" : "ok");
    }
    printf("floor %g ceil %g round %g trunc %g rint %g fmod %g remainder %g\n", floor(-2.5), ceil(-2.5), round(-2.5),
           trunc(-2.5), rint(-2.5), fmod(7.5, 2.0), remainder(7.5, 2.0));
    int exponent;
    double mantissa = frexp(1234.5, &exponent);
    double whole, fraction = modf(-3.75, &whole);
    printf("frexp %.17g %d ldexp %g modf %g %g\n", mantissa, exponent, ldexp(0.75, 10), whole, fraction);
}

/* Prints every random double with %.17g, reads it back with strtod and
 * counts values that do not come back bit for bit. */
static uint64_t round_trips(int count, int *mismatches) {
    char text[64];
    uint64_t hash = 0;
    for (int i = 0; i < count; i++) {
        double v;
        uint64_t bits = next_random();
        memcpy(&v, &bits, sizeof v);
        if (!isfinite(v)) v = (double)(int64_t)bits;
        const char *format = (i % 3 == 0) ? "%.17g" : (i % 3 == 1) ? "%.16e" : "%.17e";
        snprintf(text, sizeof text, format, v);
        double back = strtod(text, NULL);
        if (bits_of(back) != bits_of(v)) (*mismatches)++;
        for (const char *p = text; *p; p++) hash = fold(hash, (unsigned char)*p);
    }
    return hash;
}

static double simpson(double (*f)(double), double a, double b, int n) {
    double h = (b - a) / n, sum = f(a) + f(b);
    for (int i = 1; i < n; i++) sum += f(a + i * h) * ((i % 2) ? 4.0 : 2.0);
    return sum * h / 3.0;
}

static double gaussian(double x) { return exp(-x * x); }

static double monte_carlo_pi(int samples) {
    int inside = 0;
    for (int i = 0; i < samples; i++) {
        double x = next_unit() * 2.0 - 1.0, y = next_unit() * 2.0 - 1.0;
        if (x * x + y * y <= 1.0) inside++;
    }
    return 4.0 * inside / samples;
}

static float float_series(int terms) {
    float sum = 0.0f, sign = 1.0f;
    for (int k = 0; k < terms; k++) {
        sum += sign / (2.0f * (float)k + 1.0f);
        sign = -sign;
    }
    return 4.0f * sum;
}

static uint64_t mandelbrot(int width, int height, int max_iterations, int print) {
    static const char shades[] = " .:-=+*#%@";
    uint64_t hash = 0;
    char line[128];
    for (int row = 0; row < height; row++) {
        for (int col = 0; col < width; col++) {
            double cr = -2.2 + 3.0 * col / width, ci = -1.2 + 2.4 * row / height;
            double zr = 0.0, zi = 0.0;
            int n = 0;
            while (n < max_iterations && zr * zr + zi * zi <= 4.0) {
                double t = zr * zr - zi * zi + cr;
                zi = 2.0 * zr * zi + ci;
                zr = t;
                n++;
            }
            line[col] = shades[n * 9 / max_iterations];
            hash = fold(hash, (uint64_t)n);
        }
        line[width] = '\0';
        if (print) printf("|%s|\n", line);
    }
    return hash;
}

int main(int argc, char **argv) {
    int scale = argc > 1 ? atoi(argv[1]) : 1;
    if (scale < 1) scale = 1;

    print_function_table();
    print_gallery();

    uint64_t exact_hash = 0;
    double integral_sin = 0.0, integral_gauss = 0.0, pi_estimate = 0.0;
    double libm_sum = 0.0;
    float series = 0.0f;
    int mismatches = 0;
    for (int round = 0; round < scale; round++) {
        rng_state = 0xdecafbadULL + (uint64_t)round;
        exact_hash = fold(exact_hash, round_trips(12, &mismatches));
        integral_sin = simpson(sin, 0.0, M_PI, 200 + 2 * (round % 3));
        integral_gauss = simpson(gaussian, -5.0, 5.0, 200);
        pi_estimate = monte_carlo_pi(3000);
        exact_hash = fold(exact_hash, bits_of(pi_estimate));
        series = float_series(5000);
        exact_hash = fold(exact_hash, (uint64_t)(series * 1e6f));
        exact_hash = fold(exact_hash, mandelbrot(48, 16, 50, round == 0));
        for (int i = 1; i <= 100; i++) {
            double x = i * 0.01;
            libm_sum += sin(x) * cos(x) + log(x) + sqrt(x) + exp(-x) + atan2(x, 1.0 + x) + pow(x, 0.25);
        }
    }
    printf("round trips that changed a value: %d\n", mismatches);
    printf("integral of sin over [0, pi] = %.12f\n", integral_sin);
    printf("integral of exp(-x^2) over [-5, 5] = %.12f (sqrt(pi) = %.12f)\n", integral_gauss, sqrt(M_PI));
    printf("monte carlo pi = %.6f\n", pi_estimate);
    printf("float series pi = %.5f\n", series);
    printf("libm sum = %.10e\n", libm_sum);
    printf("exact checksum = %016llx\n", (unsigned long long)exact_hash);
    return 0;
}
