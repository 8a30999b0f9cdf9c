/*
 * weft.h - C and C++ bindings for the weft host API (import module "weft").
 *
 * The ABI is described in docs/host-api.md; this header declares every
 * function of it under a `weft_` prefix and adds a few static inline helpers
 * for NUL-terminated strings. Build a script with
 *
 *     clang --target=wasm32-wasi -O2 -I sdk/c script.c -o script.wasm
 *
 * or let `weft compile script.c` do it.
 *
 * Results: functions that can fail return an int32_t that is zero or a
 * length on success and one of the negative WEFT_* codes below on failure.
 * No call traps on bad arguments.
 */
#ifndef WEFT_H
#define WEFT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Result codes --------------------------------------------------- */

#define WEFT_OK 0
/* recv: no message came within the timeout. */
#define WEFT_TIMEDOUT (-1)
/* A pointer and length do not lie inside memory. */
#define WEFT_FAULT (-2)
/* A bad argument: an empty or non-UTF-8 id, a negative length. */
#define WEFT_INVAL (-3)
/* A message, key or value over its size limit. */
#define WEFT_TOOBIG (-4)
/* A quota is reached: timers, key-value store, messages sent in one slice. */
#define WEFT_FULL (-5)
/* No such key (kv_get, kv_delete), timer (timer_cancel) or module (spawn). */
#define WEFT_NOTFOUND (-6)
/* The host running the script does not offer this call. */
#define WEFT_NOTSUP (-7)

/* ---- Limits ---------------------------------------------------------- */

/* Largest message body, in bytes. */
#define WEFT_MAX_MESSAGE (64 * 1024)
/* Longest script id, in bytes (UTF-8, no terminator). */
#define WEFT_MAX_ID 127
/* Size of a buffer that holds any id and its 0 terminator (recv's `from`). */
#define WEFT_ID_BUF (WEFT_MAX_ID + 1)
/* Messages sent in one slice and not yet delivered. */
#define WEFT_MAX_PENDING_SENDS 1024
/* Messages a mailbox holds; a message to a full mailbox is dropped. */
#define WEFT_MAX_MAILBOX 4096
/* Timers a script may have at once. */
#define WEFT_MAX_TIMERS 64
/* Shortest timer interval, in nanoseconds (1 ms). */
#define WEFT_MIN_INTERVAL_NANOS 1000000LL
/* Longest key, in bytes. */
#define WEFT_MAX_KEY 1024
/* Longest value, in bytes. */
#define WEFT_MAX_VALUE (64 * 1024)
/* Keys and values of the key-value store together, in bytes. */
#define WEFT_MAX_KV_STORE (1024 * 1024)

/* Handy time units for the nanosecond arguments. */
#define WEFT_MILLIS 1000000LL
#define WEFT_SECONDS 1000000000LL

/* ---- Imports --------------------------------------------------------- */

#define WEFT_IMPORT(name) \
    __attribute__((import_module("weft"), import_name(name)))

/* Writes the `len` bytes at `ptr` and a newline to the script's stdout. */
WEFT_IMPORT("log")
void weft_log(const void *ptr, size_t len);

/* The script's monotonic clock in nanoseconds (WASI's CLOCK_MONOTONIC:
 * it keeps counting while the script is saved or moved). */
WEFT_IMPORT("now")
int64_t weft_now(void);

/* Parks the script for `nanos` nanoseconds without using CPU. Messages and
 * timer firings that arrive meanwhile wait in the mailbox. */
WEFT_IMPORT("sleep")
void weft_sleep(int64_t nanos);

/* Gives up the rest of the current slice. */
WEFT_IMPORT("yield")
void weft_yield(void);

/* Writes the script's own id (UTF-8, no terminator) into `buf`, at most
 * `cap` bytes; returns the id's full length. See weft_self_id(). */
WEFT_IMPORT("id")
int32_t weft_id(char *buf, size_t cap);

/* Sends the `len` bytes at `msg` to the script whose id is the `to_len`
 * bytes at `to`. Returns 0 (a message to a script that does not exist is
 * dropped by the host) or a negative code. Messages from one script to
 * another arrive in the order they were sent. */
WEFT_IMPORT("send")
int32_t weft_send(const char *to, size_t to_len, const void *msg, size_t len);

/* Takes the next message from the mailbox, waiting for at most
 * `timeout_nanos` (negative: for ever; 0: do not wait). Copies at most `cap`
 * bytes of it into `buf` (the rest is lost) and the sender's id, followed by
 * a 0 byte, into `from` (at most `from_cap` bytes; WEFT_ID_BUF always
 * suffices). Returns the message's full length or WEFT_TIMEDOUT.
 * A timer firing has an empty sender id and the timer's 8-byte tag,
 * little-endian, as its body: see weft_is_timer() and weft_timer_tag(). */
WEFT_IMPORT("recv")
int32_t weft_recv(int64_t timeout_nanos, void *buf, size_t cap, char *from,
                  size_t from_cap);

/* Starts a timer that fires `delay_nanos` from now and then, if
 * `interval_nanos` > 0, every `interval_nanos`; each firing is a message
 * carrying `tag`. Returns the timer's id (>= 0) or WEFT_FULL. */
WEFT_IMPORT("timer_set")
int32_t weft_timer_set(int64_t delay_nanos, int64_t interval_nanos,
                       int64_t tag);

/* Stops a timer. Returns 0 or WEFT_NOTFOUND. A firing already in the
 * mailbox stays there. */
WEFT_IMPORT("timer_cancel")
int32_t weft_timer_cancel(int32_t timer);

/* Starts a new script from the module the host knows by the `module_len`
 * bytes at `module`, with the command-line arguments at `args`: `args_len`
 * bytes of NUL-separated strings (0 for none). Writes the new script's id
 * into `id` (at most `id_cap` bytes, no terminator) and returns the id's
 * full length, or WEFT_NOTFOUND, WEFT_NOTSUP, ... See weft_spawn_str(). */
WEFT_IMPORT("spawn")
int32_t weft_spawn(const char *module, size_t module_len, const char *args,
                   size_t args_len, char *id, size_t id_cap);

/* Copies at most `cap` bytes of the value stored under the key into `buf`;
 * returns the value's full length or WEFT_NOTFOUND. */
WEFT_IMPORT("kv_get")
int32_t weft_kv_get(const void *key, size_t key_len, void *buf, size_t cap);

/* Stores the value under the key, replacing any. Returns 0, WEFT_TOOBIG or
 * WEFT_FULL. */
WEFT_IMPORT("kv_set")
int32_t weft_kv_set(const void *key, size_t key_len, const void *value,
                    size_t value_len);

/* Removes the key. Returns 0 or WEFT_NOTFOUND. */
WEFT_IMPORT("kv_delete")
int32_t weft_kv_delete(const void *key, size_t key_len);

#undef WEFT_IMPORT

/* ---- Helpers ----------------------------------------------------------- */

/* Size of the stack buffers of weft_logf() and weft_sendf(); longer output
 * is truncated. Define it before including this header to change it. */
#ifndef WEFT_FORMAT_BUF
#define WEFT_FORMAT_BUF 1024
#endif

/* The name of a result code ("TIMEDOUT", ...), or "OK" / "?" otherwise. */
static inline const char *weft_strerror(int32_t code) {
    switch (code) {
    case WEFT_TIMEDOUT: return "TIMEDOUT";
    case WEFT_FAULT: return "FAULT";
    case WEFT_INVAL: return "INVAL";
    case WEFT_TOOBIG: return "TOOBIG";
    case WEFT_FULL: return "FULL";
    case WEFT_NOTFOUND: return "NOTFOUND";
    case WEFT_NOTSUP: return "NOTSUP";
    default: return code >= 0 ? "OK" : "?";
    }
}

/* Logs a NUL-terminated string as one line. */
static inline void weft_log_str(const char *line) {
    weft_log(line, strlen(line));
}

/* Logs one line formatted like printf (truncated to WEFT_FORMAT_BUF - 1
 * bytes). */
__attribute__((format(printf, 1, 2)))
static inline void weft_logf(const char *format, ...) {
    char line[WEFT_FORMAT_BUF];
    va_list ap;
    va_start(ap, format);
    int n = vsnprintf(line, sizeof line, format, ap);
    va_end(ap);
    if (n < 0)
        return;
    weft_log(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* Parks the script for `millis` milliseconds. */
static inline void weft_sleep_ms(int64_t millis) {
    weft_sleep(millis * WEFT_MILLIS);
}

/* The monotonic clock in milliseconds. */
static inline int64_t weft_now_ms(void) {
    return weft_now() / WEFT_MILLIS;
}

/* Writes the script's own id, NUL-terminated, into `id`; returns its
 * length. */
static inline int32_t weft_self_id(char id[WEFT_ID_BUF]) {
    int32_t n = weft_id(id, WEFT_ID_BUF - 1);
    if (n < 0) {
        id[0] = '\0';
        return n;
    }
    id[n < WEFT_ID_BUF - 1 ? n : WEFT_ID_BUF - 1] = '\0';
    return n;
}

/* Sends the NUL-terminated string `msg` (without its terminator) to the
 * script `to`. */
static inline int32_t weft_send_str(const char *to, const char *msg) {
    return weft_send(to, strlen(to), msg, strlen(msg));
}

/* Sends a message formatted like printf (truncated to WEFT_FORMAT_BUF - 1
 * bytes) to the script `to`. */
__attribute__((format(printf, 2, 3)))
static inline int32_t weft_sendf(const char *to, const char *format, ...) {
    char msg[WEFT_FORMAT_BUF];
    va_list ap;
    va_start(ap, format);
    int n = vsnprintf(msg, sizeof msg, format, ap);
    va_end(ap);
    if (n < 0)
        return WEFT_INVAL;
    return weft_send(to, strlen(to), msg,
                     (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
}

/* Receives a text message: like weft_recv(), but keeps room for a 0 byte
 * and NUL-terminates `buf` (a longer message is cut at `cap` - 1 bytes).
 * `from` receives the sender's id, NUL-terminated. Returns the message's
 * full length or a negative code. `cap` must be at least 1. */
static inline int32_t weft_recv_str(int64_t timeout_nanos, char *buf,
                                    size_t cap, char from[WEFT_ID_BUF]) {
    from[0] = '\0';
    int32_t n = weft_recv(timeout_nanos, buf, cap - 1, from, WEFT_ID_BUF);
    if (n < 0) {
        buf[0] = '\0';
        return n;
    }
    buf[(size_t)n < cap - 1 ? (size_t)n : cap - 1] = '\0';
    from[WEFT_ID_BUF - 1] = '\0';
    return n;
}

/* Whether a received message is a timer firing (its sender id is empty). */
static inline int weft_is_timer(const char *from) {
    return from[0] == '\0';
}

/* The tag of a timer firing: its 8-byte little-endian body (`len` is what
 * weft_recv() returned; -1 if it is not 8). */
static inline int64_t weft_timer_tag(const void *body, int32_t len) {
    if (len != 8)
        return -1;
    const unsigned char *b = (const unsigned char *)body;
    uint64_t tag = 0;
    for (int i = 7; i >= 0; i--)
        tag = (tag << 8) | b[i];
    return (int64_t)tag;
}

/* Spawns a script from the module named `module` with the arguments in
 * `argv` (a NULL-terminated array of strings, or NULL for none) and writes
 * the new script's id, NUL-terminated, into `id`. Returns the id's length
 * or a negative code (WEFT_TOOBIG if the arguments exceed WEFT_FORMAT_BUF
 * bytes). */
static inline int32_t weft_spawn_str(const char *module,
                                     const char *const *argv,
                                     char id[WEFT_ID_BUF]) {
    char args[WEFT_FORMAT_BUF];
    size_t len = 0;
    for (size_t i = 0; argv != NULL && argv[i] != NULL; i++) {
        size_t n = strlen(argv[i]) + 1;
        if (len + n > sizeof args)
            return WEFT_TOOBIG;
        memcpy(args + len, argv[i], n);
        len += n;
    }
    id[0] = '\0';
    int32_t n = weft_spawn(module, strlen(module), args, len, id,
                           WEFT_ID_BUF - 1);
    if (n >= 0)
        id[n < WEFT_ID_BUF - 1 ? n : WEFT_ID_BUF - 1] = '\0';
    return n;
}

/* Reads the value under `key` as a string into `buf`, NUL-terminated (cut
 * at `cap` - 1 bytes; `cap` must be at least 1). Returns the value's full
 * length or WEFT_NOTFOUND. */
static inline int32_t weft_kv_get_str(const char *key, char *buf,
                                      size_t cap) {
    int32_t n = weft_kv_get(key, strlen(key), buf, cap - 1);
    if (n < 0) {
        buf[0] = '\0';
        return n;
    }
    buf[(size_t)n < cap - 1 ? (size_t)n : cap - 1] = '\0';
    return n;
}

/* Stores the NUL-terminated string `value` under `key`. */
static inline int32_t weft_kv_set_str(const char *key, const char *value) {
    return weft_kv_set(key, strlen(key), value, strlen(value));
}

/* Removes `key`. Returns 0 or WEFT_NOTFOUND. */
static inline int32_t weft_kv_delete_str(const char *key) {
    return weft_kv_delete(key, strlen(key));
}

#ifdef __cplusplus
}
#endif

#endif /* WEFT_H */
