// A preload library for ClockSkewTests: moves this process's wall clock by PGDAEMON_TEST_CLOCK_OFFSET seconds (a
// whole number, either sign) and nothing else, as on a host whose clock was set wrong. CLOCK_REALTIME and its coarse
// variant, gettimeofday, time and timespec_get read the moved clock; the monotonic clocks, sleeps and timers are left
// alone. libfaketime also moves the absolute deadlines that libdispatch gives its timerfds, which count on the
// monotonic clock: there, ten minutes behind made every sleep ten minutes longer, and ten minutes ahead made every
// sleep return at once. Children inherit LD_PRELOAD and the variable, so a node's module processes are moved too.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static long offset(void) {
    const char *text = getenv("PGDAEMON_TEST_CLOCK_OFFSET");
    return text ? strtol(text, NULL, 10) : 0;
}

int clock_gettime(clockid_t clock, struct timespec *time) {
    static int (*real)(clockid_t, struct timespec *);
    if (!real) real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
    int status = real(clock, time);
    if (status == 0 && (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE)) time->tv_sec += offset();
    return status;
}

int gettimeofday(struct timeval *restrict time, void *restrict zone) {
    static int (*real)(struct timeval *restrict, void *restrict);
    if (!real) real = (int (*)(struct timeval *restrict, void *restrict))dlsym(RTLD_NEXT, "gettimeofday");
    int status = real(time, zone);
    if (status == 0) time->tv_sec += offset();
    return status;
}

time_t time(time_t *result) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (result) *result = now.tv_sec;
    return now.tv_sec;
}

int timespec_get(struct timespec *time, int base) {
    if (base != TIME_UTC || clock_gettime(CLOCK_REALTIME, time) != 0) return 0;
    return base;
}
