/* Creating plug-ins: from wasm, WAT, a JSON manifest and a compiled plug-in; fuel variants; creation errors; ids;
 * version and engine names. */
#include "check.h"

static const char *NOOP_WAT = "(module (func (export \"noop\")))";

static void from_bytes_and_manifest(const char *backend, const uint8_t *wasm, size_t len) {
  ExtismPlugin *plugin = new_plugin(wasm, len, NULL, 0, backend);
  CHECK(extism_plugin_function_exists(plugin, "count_vowels"));
  CHECK(!extism_plugin_function_exists(plugin, "nope"));
  CHECK(!extism_plugin_function_exists(plugin, NULL));
  CHECK_CALL(plugin, "count_vowels", "aaa", "{\"count\":3,\"total\":3,\"vowels\":\"aeiouAEIOU\"}");
  extism_plugin_free(plugin);

  /* A JSON manifest naming a file, with config: count_vowels counts the configured vowels. */
  char manifest[4096];
  snprintf(manifest, sizeof manifest,
           "{\"wasm\": [{\"path\": \"%s/count_vowels.wasm\"}], \"config\": {\"vowels\": \"l\"}}",
           getenv("EXTISM_TEST_WASM_DIR"));
  plugin = new_plugin((const uint8_t *)manifest, strlen(manifest), NULL, 0, backend);
  CHECK_CALL(plugin, "count_vowels", "Hello", "{\"count\":2,\"total\":2,\"vowels\":\"l\"}");
  extism_plugin_free(plugin);

  /* WAT text. */
  plugin = new_plugin((const uint8_t *)NOOP_WAT, strlen(NOOP_WAT), NULL, 0, backend);
  CHECK_CALL(plugin, "noop", "", "");
  extism_plugin_free(plugin);
}

static void from_compiled(const char *backend, const uint8_t *wasm, size_t len) {
  char *err = NULL;
  ExtismCompiledPlugin *compiled =
      extism_compiled_plugin_new_with_backend(wasm, len, NULL, 0, false, backend, NULL, &err);
  REQUIRE(compiled != NULL);
  CHECK_STR(extism_compiled_plugin_backend(compiled), backend);
  ExtismPlugin *a = extism_plugin_new_from_compiled(compiled, &err);
  ExtismPlugin *b = extism_plugin_new_from_compiled(compiled, &err);
  REQUIRE(a != NULL && b != NULL && err == NULL);
  /* Freeing the compiled plug-in leaves its plug-ins valid. */
  extism_compiled_plugin_free(compiled);
  CHECK_CALL(a, "count_vowels", "ae", "{\"count\":2,\"total\":2,\"vowels\":\"aeiouAEIOU\"}");
  CHECK_CALL(a, "count_vowels", "ae", "{\"count\":2,\"total\":4,\"vowels\":\"aeiouAEIOU\"}");
  /* Each plug-in has its own vars. */
  CHECK_CALL(b, "count_vowels", "e", "{\"count\":1,\"total\":1,\"vowels\":\"aeiouAEIOU\"}");
  /* Distinct v4 UUIDs. */
  const uint8_t *ida = extism_plugin_id(a), *idb = extism_plugin_id(b);
  REQUIRE(ida != NULL && idb != NULL);
  CHECK(memcmp(ida, idb, 16) != 0);
  CHECK((ida[6] >> 4) == 4);
  CHECK(extism_plugin_id(NULL) == NULL);
  extism_plugin_free(a);
  extism_plugin_free(b);
}

static void errors(const char *backend) {
  char *err = NULL;
  const uint8_t junk[] = {1, 2, 3, 4};
  CHECK(extism_plugin_new_with_backend(junk, sizeof junk, NULL, 0, false, backend, NULL, &err) == NULL);
  CHECK_CONTAINS(err, "Unable to compile Extism plugin: ");
  extism_plugin_new_error_free(err);

  /* errmsg may be NULL. */
  CHECK(extism_plugin_new(junk, sizeof junk, NULL, 0, false, NULL) == NULL);

  /* NULL wasm with a length is an error, not a crash; with length 0 it is empty input. */
  err = NULL;
  CHECK(extism_plugin_new(NULL, 10, NULL, 0, false, &err) == NULL);
  CHECK_STR(err, "Unable to compile Extism plugin: wasm is NULL but its length is 10");
  extism_plugin_new_error_free(err);
  err = NULL;
  CHECK(extism_compiled_plugin_new(NULL, 0, NULL, 0, false, &err) == NULL);
  CHECK(err != NULL);
  extism_plugin_new_error_free(err);

  /* A manifest without modules. */
  err = NULL;
  const char *empty = "{\"wasm\": []}";
  CHECK(extism_plugin_new((const uint8_t *)empty, strlen(empty), NULL, 0, false, &err) == NULL);
  CHECK_CONTAINS(err, "Unable to compile Extism plugin: ");
  extism_plugin_new_error_free(err);

  /* NULL entries in the function array, and functions given twice. */
  err = NULL;
  const ExtismFunction *nulls[1] = {NULL};
  CHECK(extism_plugin_new((const uint8_t *)NOOP_WAT, strlen(NOOP_WAT), nulls, 1, false, &err) == NULL);
  CHECK_STR(err, "Cannot pass null pointer");
  extism_plugin_new_error_free(err);

  ExtismFunction *f = extism_function_new("unused", NULL, 0, NULL, 0, NULL, NULL, NULL);
  CHECK(f == NULL); /* a NULL callback is refused */

  err = NULL;
  CHECK(extism_plugin_new_from_compiled(NULL, &err) == NULL);
  CHECK_CONTAINS(err, "Unable to create Extism plugin");
  extism_plugin_new_error_free(err);

  /* Unknown engines, by argument. */
  err = NULL;
  CHECK(extism_plugin_new_with_backend((const uint8_t *)NOOP_WAT, strlen(NOOP_WAT), NULL, 0, false, "v8", NULL,
                                       &err) == NULL);
  CHECK_CONTAINS(err, "unknown engine `v8`");
  for (const char **c = backends(); *c != NULL; c++) CHECK_CONTAINS(err, *c);
  extism_plugin_new_error_free(err);
  err = NULL;
  CHECK(extism_compiled_plugin_new_with_backend((const uint8_t *)NOOP_WAT, strlen(NOOP_WAT), NULL, 0, false, "\xff",
                                                NULL, &err) == NULL);
  CHECK_CONTAINS(err, "not valid UTF-8");
  extism_plugin_new_error_free(err);

  /* NULL-safe frees. */
  extism_plugin_free(NULL);
  extism_compiled_plugin_free(NULL);
  extism_function_free(NULL);
  extism_plugin_new_error_free(NULL);
}

static void fuel(const char *backend) {
  size_t len;
  uint8_t *kitchen = read_wasm("kitchen.wasm", &len);
  char *err = NULL;
  uint64_t limit = 100000;
  ExtismPlugin *plugin = extism_plugin_new_with_backend(kitchen, len, NULL, 0, false, backend, &limit, &err);
  REQUIRE(plugin != NULL);
  /* Fuel is refilled per call: a short call succeeds, an endless one runs dry, and the next short one succeeds. */
  CHECK_CALL(plugin, "input_length", "abc", "3");
  CHECK(extism_plugin_call(plugin, "loop_forever", NULL, 0) == -1);
  CHECK_CONTAINS(extism_plugin_error(plugin), "fuel");
  CHECK_CALL(plugin, "input_length", "abcd", "4");
  extism_plugin_free(plugin);

  /* The upstream fuel entry points use the default engine. */
  if (strcmp(backend, backends()[0]) == 0) {
    plugin = extism_plugin_new_with_fuel_limit(kitchen, len, NULL, 0, false, 1, &err);
    REQUIRE(plugin != NULL);
    CHECK(extism_plugin_call(plugin, "input_length", NULL, 0) == -1);
    CHECK_CONTAINS(extism_plugin_error(plugin), "fuel");
    extism_plugin_free(plugin);
    ExtismCompiledPlugin *compiled =
        extism_compiled_plugin_new_with_fuel_limit(kitchen, len, NULL, 0, false, 100000, &err);
    REQUIRE(compiled != NULL);
    plugin = extism_plugin_new_from_compiled(compiled, &err);
    REQUIRE(plugin != NULL);
    CHECK(extism_plugin_call(plugin, "loop_forever", NULL, 0) == -1);
    CHECK_CONTAINS(extism_plugin_error(plugin), "fuel");
    extism_plugin_free(plugin);
    extism_compiled_plugin_free(compiled);
  }
  free(kitchen);
}

int main(void) {
  CHECK(strlen(extism_version()) > 0);
  CHECK(strchr(extism_version(), ',') == NULL);
  size_t len;
  uint8_t *wasm = read_wasm("count_vowels.wasm", &len);
  for (const char **b = backends(); *b != NULL; b++) {
    from_bytes_and_manifest(*b, wasm, len);
    from_compiled(*b, wasm, len);
    errors(*b);
    fuel(*b);
  }
  free(wasm);
  return check_result("create");
}
