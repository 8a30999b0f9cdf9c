/*
 * timer: a periodic timer (every 20 ms, tag 7) logs `tick k`; a one-shot
 * timer (after 110 ms, tag 99) logs `done after k ticks`, cancels the
 * periodic one and ends the script.
 */
#include <weft.h>

#define TICK_TAG 7
#define DONE_TAG 99

int main(void) {
    int32_t ticker = weft_timer_set(20 * WEFT_MILLIS, 20 * WEFT_MILLIS, TICK_TAG);
    if (ticker < 0 || weft_timer_set(110 * WEFT_MILLIS, 0, DONE_TAG) < 0) {
        weft_log_str("timer: cannot set timers");
        return 1;
    }
    long ticks = 0;
    for (;;) {
        unsigned char body[16];
        char from[WEFT_ID_BUF];
        int32_t len = weft_recv(-1, body, sizeof body, from, sizeof from);
        if (len < 0) {
            weft_log_str("timer: timed out");
            return 1;
        }
        if (!weft_is_timer(from))
            continue; /* a message from another script */
        int64_t tag = weft_timer_tag(body, len);
        if (tag == TICK_TAG) {
            ticks++;
            weft_logf("tick %ld", ticks);
        } else if (tag == DONE_TAG) {
            weft_logf("done after %ld ticks", ticks);
            weft_timer_cancel(ticker);
            return 0;
        } else {
            weft_log_str("timer: bad timer message");
            return 1;
        }
    }
}
