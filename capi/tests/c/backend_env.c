/* Choosing the engine with EXTISM_BACKEND, for programs that only use upstream's functions. */
#include "check.h"

static const char *WAT = "(module (func (export \"noop\")))";

int main(void) {
  for (const char **b = backends(); *b != NULL; b++) {
    REQUIRE(setenv("EXTISM_BACKEND", *b, 1) == 0);
    char *err = NULL;
    ExtismPlugin *plugin = extism_plugin_new((const uint8_t *)WAT, strlen(WAT), NULL, 0, false, &err);
    REQUIRE(plugin != NULL);
    CHECK_STR(extism_plugin_backend(plugin), *b);
    CHECK_CALL(plugin, "noop", "", "");
    extism_plugin_free(plugin);

    ExtismCompiledPlugin *compiled = extism_compiled_plugin_new((const uint8_t *)WAT, strlen(WAT), NULL, 0, false, &err);
    REQUIRE(compiled != NULL);
    CHECK_STR(extism_compiled_plugin_backend(compiled), *b);
    extism_compiled_plugin_free(compiled);

    /* An explicit argument wins over the variable. */
    plugin = extism_plugin_new_with_backend((const uint8_t *)WAT, strlen(WAT), NULL, 0, false, backends()[0], NULL, &err);
    REQUIRE(plugin != NULL);
    CHECK_STR(extism_plugin_backend(plugin), backends()[0]);
    extism_plugin_free(plugin);
  }

  /* Unknown and not compiled engines are creation errors that name the variable and the compiled engines. */
  const char *wrong[] = {"nope", "wasmer", "wasmi", "wasmtime"};
  for (size_t i = 0; i < sizeof wrong / sizeof *wrong; i++) {
    if (strstr(extism_backends(), wrong[i]) != NULL) continue;
    REQUIRE(setenv("EXTISM_BACKEND", wrong[i], 1) == 0);
    char *err = NULL;
    CHECK(extism_plugin_new((const uint8_t *)WAT, strlen(WAT), NULL, 0, false, &err) == NULL);
    CHECK_CONTAINS(err, "Unable to compile Extism plugin: EXTISM_BACKEND=");
    CHECK_CONTAINS(err, wrong[i]);
    for (const char **c = backends(); *c != NULL; c++) CHECK_CONTAINS(err, *c);
    extism_plugin_new_error_free(err);
  }

  /* Empty means unset: the default engine. */
  REQUIRE(setenv("EXTISM_BACKEND", "", 1) == 0);
  ExtismPlugin *plugin = extism_plugin_new((const uint8_t *)WAT, strlen(WAT), NULL, 0, false, NULL);
  REQUIRE(plugin != NULL);
  CHECK_STR(extism_plugin_backend(plugin), backends()[0]);
  extism_plugin_free(plugin);
  return check_result("backend_env");
}
