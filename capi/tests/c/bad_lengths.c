/* Lengths and counts no buffer can have (UINT64_MAX, just above PTRDIFF_MAX, a negative size cast to unsigned), and
 * NULL arrays with a non-zero count, at every entry point that takes a pointer and a length: each is a clear error,
 * never a crash, an abort or a read past the caller's buffer. */
#include <stdint.h>

#include "check.h"

static const char *NOOP_WAT = "(module (func (export \"noop\")))";

/* Lengths that no buffer in memory can have. */
static const uint64_t ABSURD[] = {UINT64_MAX, (uint64_t)PTRDIFF_MAX + 1, (uint64_t)-16};
#define N_ABSURD (sizeof ABSURD / sizeof ABSURD[0])

static void host_noop(ExtismCurrentPlugin *plugin, const ExtismVal *inputs, ExtismSize n_inputs, ExtismVal *outputs,
                      ExtismSize n_outputs, void *data) {
  (void)plugin, (void)inputs, (void)n_inputs, (void)outputs, (void)n_outputs, (void)data;
}

static void creation(const char *backend, const uint8_t *wasm, uint64_t len) {
  char *err = NULL;
  CHECK(extism_plugin_new_with_backend(wasm, len, NULL, 0, false, backend, NULL, &err) == NULL);
  CHECK_CONTAINS(err, "Unable to compile Extism plugin: wasm is too long");
  extism_plugin_new_error_free(err);

  err = NULL;
  CHECK(extism_compiled_plugin_new_with_backend(wasm, len, NULL, 0, false, backend, NULL, &err) == NULL);
  CHECK_CONTAINS(err, "wasm is too long");
  extism_plugin_new_error_free(err);
}

/* The upstream entry points, which use the default engine. */
static void upstream_creation(const uint8_t *wasm, uint64_t len) {
  char *err = NULL;
  CHECK(extism_plugin_new(wasm, len, NULL, 0, false, &err) == NULL);
  CHECK_CONTAINS(err, "wasm is too long");
  extism_plugin_new_error_free(err);
  err = NULL;
  CHECK(extism_plugin_new_with_fuel_limit(wasm, len, NULL, 0, false, 1000, &err) == NULL);
  CHECK_CONTAINS(err, "wasm is too long");
  extism_plugin_new_error_free(err);
  err = NULL;
  CHECK(extism_compiled_plugin_new(wasm, len, NULL, 0, false, &err) == NULL);
  CHECK_CONTAINS(err, "wasm is too long");
  extism_plugin_new_error_free(err);
  err = NULL;
  CHECK(extism_compiled_plugin_new_with_fuel_limit(wasm, len, NULL, 0, false, 1000, &err) == NULL);
  CHECK_CONTAINS(err, "wasm is too long");
  extism_plugin_new_error_free(err);
}

/* A function array of one entry announced with an absurd count: refused before any entry is read or taken. */
static void function_count(const char *backend, uint64_t n) {
  ExtismFunction *f = extism_function_new("noop", NULL, 0, NULL, 0, host_noop, NULL, NULL);
  REQUIRE(f != NULL);
  const ExtismFunction **functions = malloc(sizeof *functions);
  REQUIRE(functions != NULL);
  functions[0] = f;
  char *err = NULL;
  CHECK(extism_plugin_new_with_backend((const uint8_t *)NOOP_WAT, strlen(NOOP_WAT), functions, n, false, backend,
                                       NULL, &err) == NULL);
  CHECK_CONTAINS(err, "the functions array is too long");
  extism_plugin_new_error_free(err);
  /* The function was not taken: it still serves a plug-in. */
  err = NULL;
  ExtismPlugin *plugin =
      extism_plugin_new_with_backend((const uint8_t *)NOOP_WAT, strlen(NOOP_WAT), functions, 1, false, backend, NULL, &err);
  CHECK(plugin != NULL && err == NULL);
  extism_plugin_new_error_free(err);
  extism_plugin_free(plugin);
  extism_function_free(f);
  free(functions);
}

static void calls(const char *backend, uint64_t len) {
  ExtismPlugin *plugin = new_plugin((const uint8_t *)NOOP_WAT, strlen(NOOP_WAT), NULL, 0, backend);
  const uint8_t input[4] = {1, 2, 3, 4};
  CHECK(extism_plugin_call(plugin, "noop", input, len) == -1);
  CHECK_CONTAINS(extism_plugin_error(plugin), "input data is too long");
  int host_context = 0;
  CHECK(extism_plugin_call_with_host_context(plugin, "noop", input, len, &host_context) == -1);
  CHECK_CONTAINS(extism_plugin_error(plugin), "input data is too long");
  /* NULL input with a length. */
  CHECK(extism_plugin_call(plugin, "noop", NULL, 4) == -1);
  CHECK_STR(extism_plugin_error(plugin), "input data is NULL but its length is 4");

  const char *json = "{\"a\": \"b\"}";
  CHECK(!extism_plugin_config(plugin, (const uint8_t *)json, len));
  CHECK_CONTAINS(extism_plugin_error(plugin), "config JSON is too long");
  CHECK(!extism_plugin_config(plugin, NULL, 3));
  CHECK_STR(extism_plugin_error(plugin), "config JSON is NULL but its length is 3");

  /* The plug-in is still usable. */
  CHECK_CALL(plugin, "noop", "", "");
  CHECK(extism_plugin_config(plugin, (const uint8_t *)json, strlen(json)));
  extism_plugin_free(plugin);
}

static void function_types(uint64_t n) {
  const ExtismValType types[1] = {ExtismValType_I64};
  CHECK(extism_function_new("f", types, n, NULL, 0, host_noop, NULL, NULL) == NULL);
  CHECK(extism_function_new("f", NULL, 0, types, n, host_noop, NULL, NULL) == NULL);
}

int main(void) {
  const uint8_t *wasm = (const uint8_t *)NOOP_WAT;
  for (size_t i = 0; i < N_ABSURD; i++) {
    upstream_creation(wasm, ABSURD[i]);
    function_types(ABSURD[i]);
    for (const char **b = backends(); *b != NULL; b++) {
      creation(*b, wasm, ABSURD[i]);
      function_count(*b, ABSURD[i]);
      calls(*b, ABSURD[i]);
    }
  }
  /* NULL type arrays with a count: the declared signature would be a lie. */
  CHECK(extism_function_new("f", NULL, 2, NULL, 0, host_noop, NULL, NULL) == NULL);
  CHECK(extism_function_new("f", NULL, 0, NULL, 1, host_noop, NULL, NULL) == NULL);
  return check_result("bad_lengths");
}
