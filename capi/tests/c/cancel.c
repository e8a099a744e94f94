/* Cancelling a running call from another thread, and cancels that find no call running. */
#define _GNU_SOURCE /* pthread_tryjoin_np */
#include <pthread.h>
#include <time.h>

#include "check.h"

static void *run_forever(void *arg) {
  ExtismPlugin *plugin = arg;
  int32_t *rc = malloc(sizeof *rc);
  *rc = extism_plugin_call(plugin, "loop_forever", NULL, 0);
  return rc;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

int main(void) {
  size_t len;
  uint8_t *wasm = read_wasm("kitchen.wasm", &len);
  for (const char **b = backends(); *b != NULL; b++) {
    ExtismPlugin *plugin = new_plugin(wasm, len, NULL, 0, *b);
    const ExtismCancelHandle *handle = extism_plugin_cancel_handle(plugin);
    REQUIRE(handle != NULL);
    CHECK(extism_plugin_cancel_handle(NULL) == NULL);
    CHECK(!extism_plugin_cancel(NULL));

    /* Nothing running: accepted, and not remembered for the next call. */
    CHECK(extism_plugin_cancel(handle));
    CHECK_CALL(plugin, "input_length", "ab", "2");

    for (int round = 0; round < 2; round++) {
      pthread_t t;
      REQUIRE(pthread_create(&t, NULL, run_forever, plugin) == 0);
      /* Cancel repeatedly until the call ends: the first cancel may come before the call has started. */
      void *result = NULL;
      for (int i = 0; i < 600; i++) {
        sleep_ms(100);
        CHECK(extism_plugin_cancel(handle));
        if (pthread_tryjoin_np(t, &result) == 0) break;
      }
      REQUIRE(result != NULL);
      CHECK(*(int32_t *)result == 134);
      free(result);
      CHECK_STR(extism_plugin_error(plugin), "timeout");
      /* The plug-in is usable afterwards. */
      CHECK_CALL(plugin, "input_length", "abc", "3");
    }
    extism_plugin_free(plugin);
  }
  free(wasm);
  return check_result("cancel");
}
