#include <extism.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
  static uint8_t wasm[1 << 22];
  FILE *file = argc == 3 ? fopen(argv[1], "rb") : NULL;
  size_t len = file ? fread(wasm, 1, sizeof wasm, file) : 0;
  char *error = NULL;
  ExtismPlugin *plugin = extism_plugin_new(wasm, len, NULL, 0, false, &error);
  if (plugin == NULL) return fprintf(stderr, "%s\n", error ? error : "usage: host WASM INPUT"), 1;
  if (extism_plugin_call(plugin, "count_vowels", (const uint8_t *)argv[2], strlen(argv[2])) != EXTISM_SUCCESS)
    return fprintf(stderr, "%s\n", extism_plugin_error(plugin)), 1;
  printf("%.*s\n", (int)extism_plugin_output_length(plugin), (const char *)extism_plugin_output_data(plugin));
  extism_plugin_free(plugin);
  return 0;
}
