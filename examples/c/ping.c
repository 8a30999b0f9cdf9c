/*
 * ping: sends `ping 1` .. `ping N` (N = argv[1], default 100) to the script
 * `pong`, waiting (at most 5 s) for `pong i` before sending the next, then
 * sends `stop`.
 */
#include <stdlib.h>
#include <weft.h>

#define ROUNDS 100

int main(int argc, char **argv) {
    long rounds = ROUNDS;
    if (argc > 1) {
        char *end;
        long n = strtol(argv[1], &end, 10);
        if (end != argv[1] && *end == '\0' && n > 0)
            rounds = n;
    }
    for (long i = 1; i <= rounds; i++) {
        weft_sendf("pong", "ping %ld", i);

        char msg[64], from[WEFT_ID_BUF];
        if (weft_recv_str(5 * WEFT_SECONDS, msg, sizeof msg, from) < 0) {
            weft_log_str("ping: timed out");
            return 1;
        }
        long got;
        char rest;
        if (sscanf(msg, "pong %ld%c", &got, &rest) != 1 || got != i) {
            weft_log_str("ping: out of order");
            return 1;
        }
        weft_logf("ping got pong %ld", got);
    }
    weft_send_str("pong", "stop");
    weft_log_str("ping done");
    return 0;
}
