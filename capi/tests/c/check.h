/* Helpers shared by the C tests: checks that report file and line, loading test wasm, and the engine loop. */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extism.h"

static int check_failures = 0;

/* Record a failed expectation without stopping, so one run reports every failure. */
#define CHECK(cond)                                                                  \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);       \
      check_failures++;                                                              \
    }                                                                                \
  } while (0)

/* Stop at once: the rest of the test depends on it. */
#define REQUIRE(cond)                                                                \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond);     \
      exit(1);                                                                       \
    }                                                                                \
  } while (0)

#define CHECK_STR(actual, expected)                                                  \
  do {                                                                               \
    const char *a_ = (actual), *e_ = (expected);                                     \
    if (a_ == NULL || strcmp(a_, e_) != 0) {                                         \
      fprintf(stderr, "%s:%d: expected \"%s\", got \"%s\"\n", __FILE__, __LINE__, e_, \
              a_ ? a_ : "(NULL)");                                                   \
      check_failures++;                                                              \
    }                                                                                \
  } while (0)

#define CHECK_CONTAINS(haystack, needle)                                             \
  do {                                                                               \
    const char *h_ = (haystack), *n_ = (needle);                                     \
    if (h_ == NULL || strstr(h_, n_) == NULL) {                                      \
      fprintf(stderr, "%s:%d: expected text containing \"%s\", got \"%s\"\n", __FILE__, \
              __LINE__, n_, h_ ? h_ : "(NULL)");                                     \
      check_failures++;                                                              \
    }                                                                                \
  } while (0)

/* The test's exit status: 0 only if no check failed. */
static int check_result(const char *name) {
  if (check_failures == 0) {
    printf("%s: ok\n", name);
    return 0;
  }
  fprintf(stderr, "%s: %d check(s) failed\n", name, check_failures);
  return 1;
}

/* Read tests/wasm/<name> (the directory comes from EXTISM_TEST_WASM_DIR). The caller frees the buffer. */
static inline uint8_t *read_wasm(const char *name, size_t *len) {
  const char *dir = getenv("EXTISM_TEST_WASM_DIR");
  REQUIRE(dir != NULL);
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  REQUIRE(f != NULL);
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *data = malloc((size_t)size);
  REQUIRE(data != NULL);
  REQUIRE(fread(data, 1, (size_t)size, f) == (size_t)size);
  fclose(f);
  *len = (size_t)size;
  return data;
}

/* The output of the last call as a NUL-terminated string; the caller frees it. */
static inline char *output_string(ExtismPlugin *plugin) {
  ExtismSize len = extism_plugin_output_length(plugin);
  const uint8_t *data = extism_plugin_output_data(plugin);
  char *s = malloc(len + 1);
  REQUIRE(s != NULL);
  if (len > 0) memcpy(s, data, len);
  s[len] = 0;
  return s;
}

/* Call `func` with a string input and check the call succeeded with output `expected` (NULL: any output). */
static inline void check_call(ExtismPlugin *plugin, const char *func, const char *input, const char *expected, int line) {
  int32_t rc = extism_plugin_call(plugin, func, (const uint8_t *)input, strlen(input));
  const char *err = extism_plugin_error(plugin);
  if (rc != EXTISM_SUCCESS || err != NULL) {
    fprintf(stderr, "%s:%d: call %s failed: rc %d, error %s\n", __FILE__, line, func, rc, err ? err : "(NULL)");
    check_failures++;
    return;
  }
  if (expected != NULL) {
    char *out = output_string(plugin);
    if (strcmp(out, expected) != 0) {
      fprintf(stderr, "%s:%d: call %s: expected \"%s\", got \"%s\"\n", __FILE__, line, func, expected, out);
      check_failures++;
    }
    free(out);
  }
}
#define CHECK_CALL(plugin, func, input, expected) check_call(plugin, func, input, expected, __LINE__)

/* The compiled engines, from extism_backends(), as a NULL-terminated array of strings (static storage). */
static inline const char **backends(void) {
  static char list[256];
  static const char *names[8];
  const char *all = extism_backends();
  REQUIRE(all != NULL && strlen(all) < sizeof list);
  strcpy(list, all);
  int n = 0;
  for (char *name = strtok(list, ","); name != NULL && n < 7; name = strtok(NULL, ",")) names[n++] = name;
  names[n] = NULL;
  REQUIRE(n > 0);
  return (const char **)names;
}

/* Create a plug-in on `backend` from bytes, failing the test if that fails. */
static inline ExtismPlugin *new_plugin(const uint8_t *wasm, size_t len, const ExtismFunction **functions, ExtismSize n,
                                const char *backend) {
  char *err = NULL;
  ExtismPlugin *plugin = extism_plugin_new_with_backend(wasm, len, functions, n, false, backend, NULL, &err);
  if (plugin == NULL) {
    fprintf(stderr, "creating a plug-in on %s failed: %s\n", backend, err ? err : "(no message)");
    extism_plugin_new_error_free(err);
    exit(1);
  }
  REQUIRE(err == NULL);
  CHECK_STR(extism_plugin_backend(plugin), backend);
  return plugin;
}
