/*
 * pong: answers every `ping i` with `pong i` to its sender; on `stop` logs
 * how many pings it answered and exits. It waits for ever, so a ping that
 * is stopped and resumed later does not make it fail.
 */
#include <weft.h>

int main(void) {
    long answered = 0;
    for (;;) {
        char msg[64], from[WEFT_ID_BUF];
        if (weft_recv_str(-1, msg, sizeof msg, from) < 0) {
            weft_log_str("pong: timed out");
            return 1;
        }
        if (weft_is_timer(from))
            continue;
        long i;
        char rest;
        if (sscanf(msg, "ping %ld%c", &i, &rest) == 1) {
            weft_sendf(from, "pong %ld", i);
            answered++;
        } else if (strcmp(msg, "stop") == 0) {
            weft_logf("pong done after %ld", answered);
            return 0;
        }
    }
}
