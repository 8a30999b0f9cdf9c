/*
 * member: a chat member, spawned by `room`. Its first message comes from
 * the room; it then says three lines, counts the lines relayed to it, says
 * `bye` once it heard all 12 (3 from each of the 4 others) and ends on
 * `stop`.
 */
#include <weft.h>

#define MEMBERS 5
#define SAYS 3

int main(void) {
    char me[WEFT_ID_BUF], room[WEFT_ID_BUF], msg[256];
    weft_self_id(me);
    if (weft_recv_str(-1, msg, sizeof msg, room) < 0 || strcmp(msg, "hello") != 0) {
        weft_log_str("member: no hello");
        return 1;
    }
    for (int k = 1; k <= SAYS; k++)
        weft_sendf(room, "say %s %d", me, k);

    int heard = 0;
    for (;;) {
        char from[WEFT_ID_BUF];
        if (weft_recv_str(-1, msg, sizeof msg, from) < 0) {
            weft_log_str("member: timed out");
            return 1;
        }
        if (strcmp(from, room) != 0)
            continue;
        if (strncmp(msg, "relay ", 6) == 0) {
            heard++;
            if (heard == SAYS * (MEMBERS - 1)) {
                weft_logf("member %s heard %d", me, heard);
                weft_sendf(room, "bye %s", me);
            }
        } else if (strcmp(msg, "stop") == 0) {
            return 0;
        }
    }
}
