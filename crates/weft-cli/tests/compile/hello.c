/* weft.log through the SDK, and printf through WASI. */
#include <stdio.h>
#include <weft.h>

int main(void) {
    weft_logf("hello from %s, %d + %d = %d", "C", 2, 3, 2 + 3);
    printf("printf works too\n");
    return 0;
}
