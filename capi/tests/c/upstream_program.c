/* A host written for upstream's extism.h, using nothing but upstream's API and macros. It is compiled against our
 * header (with the other C tests) and, when upstream's header is available, against upstream's: both must run on our
 * library. The engine is the default one (or EXTISM_BACKEND's). */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* strdup */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extism.h"

static int freed = 0;
static void free_prefix(void *data) {
  freed++;
  free(data);
}

EXTISM_FUNCTION(greet);
void greet(ExtismCurrentPlugin *plugin, const ExtismVal *inputs, ExtismSize n_inputs, ExtismVal *outputs,
           ExtismSize n_outputs, void *data) {
  (void)n_inputs, (void)n_outputs;
  const char *prefix = data;
  ExtismSize len = extism_current_plugin_memory_length(plugin, inputs[0].v.i64);
  ExtismMemoryHandle out = extism_current_plugin_memory_alloc(plugin, strlen(prefix) + len);
  uint8_t *memory = extism_current_plugin_memory(plugin);
  memcpy(memory + out, prefix, strlen(prefix));
  memcpy(memory + out + strlen(prefix), memory + inputs[0].v.i64, len);
  outputs[0].v.i64 = out;
}

static uint8_t *read_file(const char *name, size_t *len) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", getenv("EXTISM_TEST_WASM_DIR"), name);
  FILE *f = fopen(path, "rb");
  if (f == NULL) return NULL;
  fseek(f, 0, SEEK_END);
  *len = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *data = malloc(*len);
  if (fread(data, 1, *len, f) != *len) *len = 0;
  fclose(f);
  return data;
}

int main(void) {
  size_t len = 0;
  uint8_t *wasm = read_file("host_functions.wasm", &len);
  if (wasm == NULL || len == 0) return 2;

  const ExtismValType ptr[] = {EXTISM_PTR};
  ExtismFunction *user = extism_function_new("greet", ptr, 1, ptr, 1, greet, strdup("Hello, "), free_prefix);
  ExtismFunction *ns = extism_function_new("greet", ptr, 1, ptr, 1, greet, strdup("Hi, "), free_prefix);
  extism_function_set_namespace(ns, "my:ns");
  const ExtismFunction *functions[] = {user, ns};

  char *errmsg = NULL;
  ExtismPlugin *plugin = extism_plugin_new(wasm, len, functions, 2, false, &errmsg);
  free(wasm);
  if (plugin == NULL) {
    fprintf(stderr, "%s\n", errmsg);
    extism_plugin_new_error_free(errmsg);
    return 1;
  }
  int rc = extism_plugin_call(plugin, "greet_both", (const uint8_t *)"Ada", 3);
  if (rc != EXTISM_SUCCESS || extism_plugin_error(plugin) != NULL) {
    fprintf(stderr, "call failed: %s\n", extism_plugin_error(plugin));
    return 1;
  }
  ExtismSize out_len = extism_plugin_output_length(plugin);
  const uint8_t *out = extism_plugin_output_data(plugin);
  printf("extism %s: %.*s\n", extism_version(), (int)out_len, (const char *)out);
  int ok = out_len == strlen("Hello, Ada|Hi, Ada") && memcmp(out, "Hello, Ada|Hi, Ada", out_len) == 0;

  extism_plugin_free(plugin);
  extism_function_free(user);
  extism_function_free(ns);
  ok = ok && freed == 2;
  return ok ? 0 : 1;
}
