/* In-memory wasm the way upstream's C++ SDK passes it (`Manifest::wasmBytes`): a JSON manifest whose `data` is
 * {"ptr": <decimal address in the caller's memory>, "len": <bytes>}. Accepted on the C API path only (a Rust
 * caller, and manifests in files or behind URLs, are refused: see tests/pointer_manifest.rs). */
#include <inttypes.h>
#include <stdint.h>

#include "check.h"

/* A manifest for the `len` bytes at `wasm`, counting the vowels `vowels`. */
static void pointer_manifest(char *out, size_t size, const void *wasm, uint64_t len, const char *vowels) {
  snprintf(out, size, "{\"wasm\": [{\"data\": {\"ptr\": %" PRIu64 ", \"len\": %" PRIu64 "}, \"name\": \"main\"}], "
           "\"config\": {\"vowels\": \"%s\"}}", (uint64_t)(uintptr_t)wasm, len, vowels);
}

static void on(const char *backend) {
  size_t len;
  uint8_t *wasm = read_wasm("count_vowels.wasm", &len);
  char manifest[512];
  pointer_manifest(manifest, sizeof manifest, wasm, len, "l");
  ExtismPlugin *plugin = new_plugin((const uint8_t *)manifest, strlen(manifest), NULL, 0, backend);
  /* The plug-in holds its own copy: the caller's buffer may go at once. */
  memset(wasm, 0, len);
  free(wasm);
  CHECK_CALL(plugin, "count_vowels", "Hello", "{\"count\":2,\"total\":2,\"vowels\":\"l\"}");
  extism_plugin_free(plugin);

  /* As the C++ SDK does it: extism_plugin_new, the engine from EXTISM_BACKEND; and a compiled plug-in. */
  wasm = read_wasm("count_vowels.wasm", &len);
  pointer_manifest(manifest, sizeof manifest, wasm, len, "o");
  REQUIRE(setenv("EXTISM_BACKEND", backend, 1) == 0);
  char *err = NULL;
  plugin = extism_plugin_new((const uint8_t *)manifest, strlen(manifest), NULL, 0, true, &err);
  REQUIRE(plugin != NULL && err == NULL);
  CHECK_STR(extism_plugin_backend(plugin), backend);
  CHECK_CALL(plugin, "count_vowels", "Hello, world", "{\"count\":2,\"total\":2,\"vowels\":\"o\"}");
  extism_plugin_free(plugin);
  ExtismCompiledPlugin *compiled = extism_compiled_plugin_new((const uint8_t *)manifest, strlen(manifest), NULL, 0,
                                                              false, &err);
  REQUIRE(compiled != NULL && err == NULL);
  REQUIRE(unsetenv("EXTISM_BACKEND") == 0);
  plugin = extism_plugin_new_from_compiled(compiled, &err);
  REQUIRE(plugin != NULL);
  CHECK_STR(extism_plugin_backend(plugin), backend);
  CHECK_CALL(plugin, "count_vowels", "oo", "{\"count\":2,\"total\":2,\"vowels\":\"o\"}");
  extism_plugin_free(plugin);
  extism_compiled_plugin_free(compiled);

  /* A NULL address with a length, and a length no buffer can have, are refused like any buffer argument. */
  pointer_manifest(manifest, sizeof manifest, NULL, len, "a");
  err = NULL;
  CHECK(extism_plugin_new_with_backend((const uint8_t *)manifest, strlen(manifest), NULL, 0, false, backend, NULL,
                                       &err) == NULL);
  CHECK_CONTAINS(err, "is NULL but its length is");
  extism_plugin_new_error_free(err);
  pointer_manifest(manifest, sizeof manifest, wasm, UINT64_MAX, "a");
  err = NULL;
  CHECK(extism_plugin_new_with_backend((const uint8_t *)manifest, strlen(manifest), NULL, 0, false, backend, NULL,
                                       &err) == NULL);
  CHECK_CONTAINS(err, "is larger than the 1073741824-byte limit for a module");
  extism_plugin_new_error_free(err);
  /* Bytes that are not wasm: the engine's error, as for any module. */
  pointer_manifest(manifest, sizeof manifest, "junk", 4, "a");
  err = NULL;
  CHECK(extism_plugin_new_with_backend((const uint8_t *)manifest, strlen(manifest), NULL, 0, false, backend, NULL,
                                       &err) == NULL);
  CHECK_CONTAINS(err, "Unable to compile Extism plugin");
  extism_plugin_new_error_free(err);
  free(wasm);
}

int main(void) {
  for (const char **b = backends(); *b != NULL; b++) on(*b);
  return check_result("in_memory_manifest");
}
