/*
 * log: leveled, line-at-a-time logging to stderr.
 *
 * One line per event, written with a single write() so lines from different threads
 * never interleave. The level is process-wide and set once at start-up (flag
 * --log-level or CG_LOG_LEVEL).
 */
#ifndef CG_CORE_LOG_H
#define CG_CORE_LOG_H

typedef enum { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG } log_level;

/* Sets the level; messages above it are dropped. */
void log_set_level(log_level level);
log_level log_get_level(void);
/* Parses "error", "warn", "info" or "debug"; returns 0 and sets *out, or -1. */
int log_parse_level(const char *name, log_level *out);

void log_msg(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
