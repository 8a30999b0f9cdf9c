/*
 * Numerical simulation: the classic five-body simulation of the Jovian
 * planets, the spectral norm of an infinite matrix by power iteration, and
 * a one-dimensional heat equation solved by explicit finite differences.
 * Only + - * / and sqrt are used, so every result is reproducible bit for
 * bit and is printed with many digits.
 *
 * Usage: nbody [SCALE]   (SCALE >= 1, default 1; work grows linearly)
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PI 3.141592653589793
#define SOLAR_MASS (4 * PI * PI)
#define DAYS_PER_YEAR 365.24
#define BODIES 5
#define STEPS_PER_ROUND 3000
#define SPECTRAL_SIZE 40
#define HEAT_CELLS 200
#define HEAT_STEPS 200

struct body {
    double x, y, z, vx, vy, vz, mass;
};

static const struct body initial_bodies[BODIES] = {
    {0, 0, 0, 0, 0, 0, SOLAR_MASS},
    {4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01, 1.66007664274403694e-03 * DAYS_PER_YEAR,
     7.69901118419740425e-03 * DAYS_PER_YEAR, -6.90460016972063023e-05 * DAYS_PER_YEAR,
     9.54791938424326609e-04 * SOLAR_MASS},
    {8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01, -2.76742510726862411e-03 * DAYS_PER_YEAR,
     4.99852801234917238e-03 * DAYS_PER_YEAR, 2.30417297573763929e-05 * DAYS_PER_YEAR,
     2.85885980666130812e-04 * SOLAR_MASS},
    {1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01, 2.96460137564761618e-03 * DAYS_PER_YEAR,
     2.37847173959480950e-03 * DAYS_PER_YEAR, -2.96589568540237556e-05 * DAYS_PER_YEAR,
     4.36624404335156298e-05 * SOLAR_MASS},
    {1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01, 2.68067772490389322e-03 * DAYS_PER_YEAR,
     1.62824170038242295e-03 * DAYS_PER_YEAR, -9.51592254519715870e-05 * DAYS_PER_YEAR,
     5.15138902046611451e-05 * SOLAR_MASS},
};

static void offset_momentum(struct body *bodies) {
    double px = 0, py = 0, pz = 0;
    for (int i = 0; i < BODIES; i++) {
        px += bodies[i].vx * bodies[i].mass;
        py += bodies[i].vy * bodies[i].mass;
        pz += bodies[i].vz * bodies[i].mass;
    }
    bodies[0].vx = -px / SOLAR_MASS;
    bodies[0].vy = -py / SOLAR_MASS;
    bodies[0].vz = -pz / SOLAR_MASS;
}

static double energy(const struct body *bodies) {
    double e = 0.0;
    for (int i = 0; i < BODIES; i++) {
        const struct body *b = &bodies[i];
        e += 0.5 * b->mass * (b->vx * b->vx + b->vy * b->vy + b->vz * b->vz);
        for (int j = i + 1; j < BODIES; j++) {
            double dx = b->x - bodies[j].x, dy = b->y - bodies[j].y, dz = b->z - bodies[j].z;
            e -= b->mass * bodies[j].mass / sqrt(dx * dx + dy * dy + dz * dz);
        }
    }
    return e;
}

static void advance(struct body *bodies, double dt) {
    for (int i = 0; i < BODIES; i++) {
        struct body *b = &bodies[i];
        for (int j = i + 1; j < BODIES; j++) {
            struct body *c = &bodies[j];
            double dx = b->x - c->x, dy = b->y - c->y, dz = b->z - c->z;
            double distance2 = dx * dx + dy * dy + dz * dz;
            double magnitude = dt / (distance2 * sqrt(distance2));
            b->vx -= dx * c->mass * magnitude;
            b->vy -= dy * c->mass * magnitude;
            b->vz -= dz * c->mass * magnitude;
            c->vx += dx * b->mass * magnitude;
            c->vy += dy * b->mass * magnitude;
            c->vz += dz * b->mass * magnitude;
        }
    }
    for (int i = 0; i < BODIES; i++) {
        bodies[i].x += dt * bodies[i].vx;
        bodies[i].y += dt * bodies[i].vy;
        bodies[i].z += dt * bodies[i].vz;
    }
}

static double matrix_entry(int i, int j) { return 1.0 / ((i + j) * (i + j + 1) / 2 + i + 1); }

static void multiply(const double *v, double *out, int n, int transpose) {
    for (int i = 0; i < n; i++) {
        double sum = 0.0;
        for (int j = 0; j < n; j++) sum += (transpose ? matrix_entry(j, i) : matrix_entry(i, j)) * v[j];
        out[i] = sum;
    }
}

static double spectral_norm(int n) {
    double *u = malloc(n * sizeof *u), *v = malloc(n * sizeof *v), *t = malloc(n * sizeof *t);
    if (!u || !v || !t) exit(1);
    for (int i = 0; i < n; i++) u[i] = 1.0;
    for (int k = 0; k < 10; k++) {
        multiply(u, t, n, 0);
        multiply(t, v, n, 1);
        multiply(v, t, n, 0);
        multiply(t, u, n, 1);
    }
    double uv = 0.0, vv = 0.0;
    for (int i = 0; i < n; i++) {
        uv += u[i] * v[i];
        vv += v[i] * v[i];
    }
    free(u);
    free(v);
    free(t);
    return sqrt(uv / vv);
}

static double heat(int cells, int steps, double *peak) {
    double *a = calloc(cells, sizeof *a), *b = calloc(cells, sizeof *b);
    if (!a || !b) exit(1);
    for (int i = cells / 3; i < 2 * cells / 3; i++) a[i] = 100.0;
    const double r = 0.4;
    for (int s = 0; s < steps; s++) {
        for (int i = 1; i < cells - 1; i++) b[i] = a[i] + r * (a[i - 1] - 2.0 * a[i] + a[i + 1]);
        b[0] = b[cells - 1] = 0.0;
        double *swap = a;
        a = b;
        b = swap;
    }
    double total = 0.0;
    *peak = 0.0;
    for (int i = 0; i < cells; i++) {
        total += a[i];
        if (a[i] > *peak) *peak = a[i];
    }
    free(a);
    free(b);
    return total;
}

int main(int argc, char **argv) {
    int scale = argc > 1 ? atoi(argv[1]) : 1;
    if (scale < 1) scale = 1;

    struct body bodies[BODIES];
    memcpy(bodies, initial_bodies, sizeof bodies);
    offset_momentum(bodies);
    printf("energy before: %.9f\n", energy(bodies));
    double norm = 0.0, total_heat = 0.0, peak = 0.0;
    uint64_t checksum = 0;
    for (int round = 0; round < scale; round++) {
        for (int step = 0; step < STEPS_PER_ROUND; step++) advance(bodies, 0.01);
        norm = spectral_norm(SPECTRAL_SIZE + round % 3);
        total_heat = heat(HEAT_CELLS, HEAT_STEPS + round % 5, &peak);
        uint64_t bits[3];
        double e = energy(bodies);
        memcpy(&bits[0], &e, 8);
        memcpy(&bits[1], &norm, 8);
        memcpy(&bits[2], &total_heat, 8);
        for (int i = 0; i < 3; i++) checksum = (checksum ^ bits[i]) * 0x100000001b3ULL;
    }
    printf("energy after %d steps: %.9f\n", scale * STEPS_PER_ROUND, energy(bodies));
    for (int i = 0; i < BODIES; i++)
        printf("body %d: %+.12e %+.12e %+.12e\n", i, bodies[i].x, bodies[i].y, bodies[i].z);
    printf("spectral norm: %.9f\n", norm);
    printf("heat: total %.12g, peak %.12g\n", total_heat, peak);
    printf("checksum = %016llx\n", (unsigned long long)checksum);
    return 0;
}
