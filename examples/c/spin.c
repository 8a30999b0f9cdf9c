/*
 * spin: a hostile script that loops for ever without calling anything.
 * The host preempts it; the scripts beside it must not notice.
 */
int main(void) {
    for (;;) {
    }
}
