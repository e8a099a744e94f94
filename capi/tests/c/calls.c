/* Calls and what they leave: config, guest errors, traps, unknown functions, NULL arguments, reset, vars, and
 * calls from several threads. */
#include <pthread.h>

#include "check.h"

static void config(ExtismPlugin *plugin) {
  CHECK_CALL(plugin, "config_get", "greeting", "{\"value\":null}");
  const char *json = "{\"greeting\": \"hello\", \"other\": \"x\"}";
  CHECK(extism_plugin_config(plugin, (const uint8_t *)json, strlen(json)));
  CHECK_CALL(plugin, "config_get", "greeting", "{\"value\":\"hello\"}");
  json = "{\"greeting\": null}";
  CHECK(extism_plugin_config(plugin, (const uint8_t *)json, strlen(json)));
  CHECK_CALL(plugin, "config_get", "greeting", "{\"value\":null}");
  CHECK_CALL(plugin, "config_get", "other", "{\"value\":\"x\"}");

  /* Invalid JSON, values that are not strings, NULL: false, with the reason. */
  json = "{not json";
  CHECK(!extism_plugin_config(plugin, (const uint8_t *)json, strlen(json)));
  CHECK_CONTAINS(extism_plugin_error(plugin), "invalid config JSON");
  json = "{\"n\": 1}";
  CHECK(!extism_plugin_config(plugin, (const uint8_t *)json, strlen(json)));
  CHECK(!extism_plugin_config(plugin, NULL, 5));
  CHECK(!extism_plugin_config(NULL, (const uint8_t *)"{}", 2));
  /* A valid update clears the stored error, as upstream. */
  CHECK(extism_plugin_config(plugin, (const uint8_t *)"{}", 2));
  CHECK(extism_plugin_error(plugin) == NULL);
}

static void errors(ExtismPlugin *plugin) {
  /* A guest error: the guest's exact text. */
  const char *message = "it went wrong";
  int32_t rc = extism_plugin_call(plugin, "fail", (const uint8_t *)message, strlen(message));
  CHECK(rc != 0);
  CHECK_STR(extism_plugin_error(plugin), message);
  CHECK_STR(extism_error(plugin), message);
  CHECK(extism_plugin_output_length(plugin) == 0);

  /* A trap: 134. */
  CHECK(extism_plugin_call(plugin, "trap", NULL, 0) == 134);
  CHECK(extism_plugin_error(plugin) != NULL);

  /* A missing export. */
  CHECK(extism_plugin_call(plugin, "nope", NULL, 0) == -1);
  CHECK_STR(extism_plugin_error(plugin), "Function not found: nope");

  /* A success clears the error; the instance survived the trap. */
  CHECK_CALL(plugin, "input_length", "12345", "5");

  /* NULL arguments. */
  CHECK(extism_plugin_call(NULL, "input_length", NULL, 0) == -1);
  CHECK(extism_plugin_call(plugin, NULL, NULL, 0) == -1);
  CHECK_STR(extism_plugin_error(plugin), "function name is NULL");
  CHECK(extism_plugin_call(plugin, "input_length", NULL, 3) == -1);
  CHECK_STR(extism_plugin_error(plugin), "input data is NULL but its length is 3");
  CHECK(extism_plugin_call(plugin, "in\xffput", NULL, 0) == -1);
  CHECK_CONTAINS(extism_plugin_error(plugin), "not valid UTF-8");
  CHECK_CALL(plugin, "input_length", "", "0");
  CHECK(extism_plugin_error(NULL) == NULL);
  CHECK(extism_plugin_output_length(NULL) == 0);
  CHECK(extism_plugin_output_data(NULL) == NULL);
  CHECK(!extism_plugin_reset(NULL));
  CHECK(!extism_plugin_function_exists(NULL, "trap"));
  extism_plugin_allow_http_response_headers(NULL);
  extism_plugin_allow_http_response_headers(plugin);
}

static void vars_and_reset(ExtismPlugin *plugin) {
  CHECK_CALL(plugin, "counter", "", "1");
  CHECK_CALL(plugin, "counter", "", "2");
  CHECK(extism_plugin_output_data(plugin) != NULL);
  /* A reset frees kernel memory but keeps vars (they live in the host). */
  CHECK(extism_plugin_reset(plugin));
  CHECK_CALL(plugin, "counter", "", "3");
  CHECK(extism_plugin_function_exists(plugin, "counter"));
}

#define THREADS 4
#define CALLS 25

static void *count(void *arg) {
  ExtismPlugin *plugin = arg;
  for (int i = 0; i < CALLS; i++) {
    /* Serialised on the plug-in: each call sees the previous one's var. Output is shared state, so only rc is read. */
    CHECK(extism_plugin_call(plugin, "counter", NULL, 0) == 0);
  }
  return NULL;
}

static void threads(ExtismPlugin *plugin) {
  const char *json = "{}";
  CHECK(extism_plugin_config(plugin, (const uint8_t *)json, 2));
  const char *reset = "counter=0";
  CHECK_CALL(plugin, "var_set", reset, "");
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) REQUIRE(pthread_create(&t[i], NULL, count, plugin) == 0);
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  char expected[16];
  snprintf(expected, sizeof expected, "%d", THREADS * CALLS + 1);
  CHECK_CALL(plugin, "counter", "", expected);
}

int main(void) {
  size_t len;
  uint8_t *wasm = read_wasm("kitchen.wasm", &len);
  for (const char **b = backends(); *b != NULL; b++) {
    ExtismPlugin *plugin = new_plugin(wasm, len, NULL, 0, *b);
    config(plugin);
    errors(plugin);
    vars_and_reset(plugin);
    threads(plugin);
    extism_plugin_free(plugin);
  }
  free(wasm);
  return check_result("calls");
}
