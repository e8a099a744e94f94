/* extism_log_custom + extism_log_drain: plug-in log lines buffered until drained. */
#include "check.h"

static int lines = 0;
static int found = 0;

static void on_line(const char *data, ExtismSize size) {
  lines++;
  CHECK(strlen(data) == size);
  if (strstr(data, "hello from the guest") != NULL) found++;
}

/* Logs its input at INFO and again at DEBUG (filtered out at the "info" level). */
static const char *LOG_WAT =
    "(module"
    "  (import \"extism:host/env\" \"input_length\" (func $input_length (result i64)))"
    "  (import \"extism:host/env\" \"alloc\" (func $alloc (param i64) (result i64)))"
    "  (import \"extism:host/env\" \"input_load_u8\" (func $load (param i64) (result i32)))"
    "  (import \"extism:host/env\" \"store_u8\" (func $store (param i64 i32)))"
    "  (import \"extism:host/env\" \"log_info\" (func $log_info (param i64)))"
    "  (import \"extism:host/env\" \"log_debug\" (func $log_debug (param i64)))"
    "  (func $copy_input (result i64) (local $n i64) (local $p i64) (local $i i64)"
    "    (local.set $n (call $input_length))"
    "    (local.set $p (call $alloc (local.get $n)))"
    "    (block $done (loop $next"
    "      (br_if $done (i64.ge_u (local.get $i) (local.get $n)))"
    "      (call $store (i64.add (local.get $p) (local.get $i)) (call $load (local.get $i)))"
    "      (local.set $i (i64.add (local.get $i) (i64.const 1)))"
    "      (br $next)))"
    "    (local.get $p))"
    "  (func (export \"log\") (result i32)"
    "    (call $log_info (call $copy_input))"
    "    (call $log_debug (call $copy_input))"
    "    (i32.const 0)))";

int main(void) {
  CHECK(extism_log_custom("info"));
  /* One logger per process. */
  CHECK(!extism_log_custom("info"));
  CHECK(!extism_log_file("stderr", "error"));
  CHECK(!extism_log_file("\xff", NULL));

  for (const char **b = backends(); *b != NULL; b++) {
    ExtismPlugin *plugin = new_plugin((const uint8_t *)LOG_WAT, strlen(LOG_WAT), NULL, 0, *b);
    const char *text = "hello from the guest";
    CHECK(extism_plugin_call(plugin, "log", (const uint8_t *)text, strlen(text)) == 0);
    CHECK(extism_plugin_error(plugin) == NULL);
    extism_plugin_free(plugin);
  }
  lines = found = 0;
  extism_log_drain(on_line);
  int n = 0;
  for (const char **b = backends(); *b != NULL; b++) n++;
  /* One INFO line per engine; the DEBUG ones were filtered out. */
  CHECK(found == n);
  /* Drained: nothing left. */
  lines = 0;
  extism_log_drain(on_line);
  CHECK(lines == 0);
  extism_log_drain(NULL);
  return check_result("logging");
}
