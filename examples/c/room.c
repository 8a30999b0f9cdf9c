/*
 * room: the chat room. Spawns 5 `member` scripts, greets each with `hello`,
 * relays every `say ...` line to all the other members as `relay say ...`,
 * and once every member said `bye` sends `stop` to all and ends.
 */
#include <weft.h>

#define MEMBERS 5

int main(void) {
    char members[MEMBERS][WEFT_ID_BUF];
    for (int m = 0; m < MEMBERS; m++) {
        int32_t n = weft_spawn_str("member", NULL, members[m]);
        if (n < 0) {
            weft_logf("room: spawn failed: %s", weft_strerror(n));
            return 1;
        }
    }
    for (int m = 0; m < MEMBERS; m++)
        weft_send_str(members[m], "hello");

    long said = 0, delivered = 0;
    int gone = 0;
    while (gone < MEMBERS) {
        char msg[256], from[WEFT_ID_BUF];
        if (weft_recv_str(5 * WEFT_SECONDS, msg, sizeof msg, from) < 0) {
            weft_log_str("room: timed out");
            return 1;
        }
        if (strncmp(msg, "say ", 4) == 0) {
            said++;
            for (int m = 0; m < MEMBERS; m++) {
                if (strcmp(members[m], from) != 0) {
                    weft_sendf(members[m], "relay %s", msg);
                    delivered++;
                }
            }
        } else if (strncmp(msg, "bye ", 4) == 0) {
            gone++;
        }
    }
    weft_logf("room done: %d members, %ld messages relayed to %ld", MEMBERS,
              said, delivered);
    for (int m = 0; m < MEMBERS; m++)
        weft_send_str(members[m], "stop");
    return 0;
}
