/* The shortest path: create a plug-in from a real PDK-built module on each engine, call it, free it. */
#include "check.h"

int main(void) {
  size_t len;
  uint8_t *wasm = read_wasm("count_vowels.wasm", &len);
  for (const char **b = backends(); *b != NULL; b++) {
    ExtismPlugin *plugin = new_plugin(wasm, len, NULL, 0, *b);
    CHECK_CALL(plugin, "count_vowels", "Hello, world!", "{\"count\":3,\"total\":3,\"vowels\":\"aeiouAEIOU\"}");
    extism_plugin_free(plugin);
  }
  free(wasm);
  return check_result("smoke");
}
