/* A C host built against an installed libextism with nothing but pkg-config or CMake's find_package (see
 * capi/tests/install.rs): prints the library's version and engines, then runs count_vowels (its path is argv[1]) on
 * every engine compiled in. */
#include <extism.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc != 2) return fprintf(stderr, "usage: %s count_vowels.wasm\n", argv[0]), 2;
  printf("version %s\n", extism_version());
  printf("engines %s\n", extism_backends());
  static uint8_t wasm[1 << 22];
  FILE *file = fopen(argv[1], "rb");
  if (file == NULL) return perror(argv[1]), 1;
  size_t len = fread(wasm, 1, sizeof wasm, file);
  fclose(file);
  char engines[256];
  snprintf(engines, sizeof engines, "%s", extism_backends());
  for (char *engine = strtok(engines, ","); engine != NULL; engine = strtok(NULL, ",")) {
    char *error = NULL;
    ExtismPlugin *plugin = extism_plugin_new_with_backend(wasm, len, NULL, 0, false, engine, NULL, &error);
    if (plugin == NULL) return fprintf(stderr, "%s: %s\n", engine, error), 1;
    const char *input = "Hello, world!";
    if (extism_plugin_call(plugin, "count_vowels", (const uint8_t *)input, strlen(input)) != EXTISM_SUCCESS)
      return fprintf(stderr, "%s: %s\n", engine, extism_plugin_error(plugin)), 1;
    printf("%s %.*s\n", extism_plugin_backend(plugin), (int)extism_plugin_output_length(plugin),
           (const char *)extism_plugin_output_data(plugin));
    extism_plugin_free(plugin);
  }
  return 0;
}
