/* Host functions written in C: user data freed exactly once, kernel memory alloc/length/free, host context, all
 * four value types, namespaces, results of the wrong type, and what a host function must not do. */
#include "check.h"

static int freed = 0;         /* free_user_data calls */
static ExtismPlugin *current; /* the plug-in whose host function runs (for the reentrancy checks) */
static ExtismCurrentPlugin *stale;

typedef struct {
  char prefix[32];
} Greeting;

static void free_greeting(void *data) {
  freed++;
  free(data);
}

static Greeting *greeting(const char *prefix) {
  Greeting *g = malloc(sizeof *g);
  REQUIRE(g != NULL);
  snprintf(g->prefix, sizeof g->prefix, "%s", prefix);
  return g;
}

/* greet(name) -> prefix + name, the prefix being the call's host context if any, else the user data's. */
static void greet(ExtismCurrentPlugin *plugin, const ExtismVal *inputs, ExtismSize n_inputs, ExtismVal *outputs,
                  ExtismSize n_outputs, void *data) {
  CHECK(n_inputs == 1 && n_outputs == 1);
  CHECK(inputs[0].t == EXTISM_PTR && outputs[0].t == EXTISM_PTR && outputs[0].v.i64 == 0);
  stale = plugin;
  const char *prefix = extism_current_plugin_host_context(plugin);
  if (prefix == NULL) prefix = ((Greeting *)data)->prefix;

  ExtismMemoryHandle name = (ExtismMemoryHandle)inputs[0].v.i64;
  ExtismSize name_len = extism_current_plugin_memory_length(plugin, name);
  CHECK(name_len > 0);

  /* A scratch block: allocated, measured, freed. */
  ExtismMemoryHandle scratch = extism_current_plugin_memory_alloc(plugin, 100);
  CHECK(scratch != 0);
  CHECK(extism_current_plugin_memory_length(plugin, scratch) == 100);
  extism_current_plugin_memory_free(plugin, scratch);
  CHECK(extism_current_plugin_memory_length(plugin, scratch) == 0);
  extism_current_plugin_memory_free(plugin, 0);
  CHECK(extism_current_plugin_memory_alloc(plugin, 0) == 0);

  size_t prefix_len = strlen(prefix);
  ExtismMemoryHandle out = extism_current_plugin_memory_alloc(plugin, prefix_len + name_len);
  REQUIRE(out != 0);
  /* Fetched after the allocations, which may move memory. */
  uint8_t *memory = extism_current_plugin_memory(plugin);
  REQUIRE(memory != NULL);
  memcpy(memory + out, prefix, prefix_len);
  memcpy(memory + out + prefix_len, memory + name, name_len);
  outputs[0].v.i64 = (int64_t)out;

  /* NULL is refused everywhere; calling back into the running plug-in fails instead of deadlocking. */
  CHECK(extism_current_plugin_memory(NULL) == NULL);
  CHECK(extism_current_plugin_memory_alloc(NULL, 10) == 0);
  CHECK(extism_current_plugin_memory_length(NULL, out) == 0);
  CHECK(extism_current_plugin_host_context(NULL) == NULL);
  if (current != NULL) {
    CHECK(extism_plugin_call(current, "greet_user", (const uint8_t *)"x", 1) == -1);
    CHECK(extism_plugin_error(current) == NULL);
  }
}

/* A host function that leaves its result with another type than declared. */
static void wrong_type(ExtismCurrentPlugin *plugin, const ExtismVal *inputs, ExtismSize n_inputs, ExtismVal *outputs,
                       ExtismSize n_outputs, void *data) {
  (void)plugin, (void)inputs, (void)n_inputs, (void)n_outputs, (void)data;
  outputs[0].t = ExtismValType_F32;
  outputs[0].v.f32 = 1.0f;
}

/* mix(i32, i64, f32, f64) -> f64: their sum. */
static void mix(ExtismCurrentPlugin *plugin, const ExtismVal *inputs, ExtismSize n_inputs, ExtismVal *outputs,
                ExtismSize n_outputs, void *data) {
  (void)plugin, (void)data;
  REQUIRE(n_inputs == 4 && n_outputs == 1);
  CHECK(inputs[0].t == ExtismValType_I32 && inputs[1].t == ExtismValType_I64);
  CHECK(inputs[2].t == ExtismValType_F32 && inputs[3].t == ExtismValType_F64);
  CHECK(extism_current_plugin_host_context(plugin) == NULL);
  outputs[0].v.f64 = inputs[0].v.i32 + (double)inputs[1].v.i64 + inputs[2].v.f32 + inputs[3].v.f64;
}

static const char *MIX_WAT =
    "(module (import \"extism:host/user\" \"mix\" (func $mix (param i32 i64 f32 f64) (result f64)))"
    "  (func (export \"run\") (result i32)"
    "    (if (f64.ne (call $mix (i32.const 1) (i64.const 2) (f32.const 3.5) (f64.const 4.25)) (f64.const 10.75))"
    "      (then unreachable))"
    "    (i32.const 7)))";

static void greetings(const char *backend, const uint8_t *wasm, size_t len) {
  ExtismValType ptr[] = {EXTISM_PTR};
  freed = 0;
  ExtismFunction *user = extism_function_new("greet", ptr, 1, ptr, 1, greet, greeting("Hello, "), free_greeting);
  ExtismFunction *ns = extism_function_new("greet", ptr, 1, ptr, 1, greet, greeting("Hi, "), free_greeting);
  REQUIRE(user != NULL && ns != NULL);
  extism_function_set_namespace(ns, "my:ns");
  const ExtismFunction *functions[] = {user, ns};
  ExtismPlugin *plugin = new_plugin(wasm, len, functions, 2, backend);

  /* Given to a plug-in: the objects are empty now, and a second plug-in cannot take them. */
  extism_function_set_namespace(ns, "ignored:now");
  char *err = NULL;
  CHECK(extism_plugin_new_with_backend(wasm, len, functions, 2, false, backend, NULL, &err) == NULL);
  CHECK_STR(err, "Function cannot be registered with multiple different Plugins");
  extism_plugin_new_error_free(err);
  extism_function_free(user);
  extism_function_free(ns);
  CHECK(freed == 0);

  CHECK_CALL(plugin, "greet_both", "Ada", "Hello, Ada|Hi, Ada");
  current = plugin;
  int32_t rc = extism_plugin_call_with_host_context(plugin, "greet_user", (const uint8_t *)"Bob", 3, "Hey, ");
  current = NULL;
  CHECK(rc == 0);
  CHECK(extism_plugin_error(plugin) == NULL);
  char *out = output_string(plugin);
  CHECK_STR(out, "Hey, Bob");
  free(out);
  /* The context was for that call only. */
  CHECK_CALL(plugin, "greet_user", "Cy", "Hello, Cy");
  /* The pointer a host function received is dead once it returned. */
  CHECK(stale != NULL && extism_current_plugin_memory(stale) == NULL);
  CHECK(extism_current_plugin_memory_alloc(stale, 8) == 0);

  extism_plugin_free(plugin);
  CHECK(freed == 2);
}

static void shared_by_compiled(const char *backend, const uint8_t *wasm, size_t len) {
  ExtismValType ptr[] = {EXTISM_PTR};
  freed = 0;
  ExtismFunction *user = extism_function_new("greet", ptr, 1, ptr, 1, greet, greeting("A "), free_greeting);
  ExtismFunction *ns = extism_function_new("greet", ptr, 1, ptr, 1, greet, greeting("B "), free_greeting);
  extism_function_set_namespace(ns, "my:ns");
  const ExtismFunction *functions[] = {user, ns};
  char *err = NULL;
  ExtismCompiledPlugin *compiled =
      extism_compiled_plugin_new_with_backend(wasm, len, functions, 2, false, backend, NULL, &err);
  REQUIRE(compiled != NULL);
  ExtismPlugin *a = extism_plugin_new_from_compiled(compiled, &err);
  ExtismPlugin *b = extism_plugin_new_from_compiled(compiled, &err);
  REQUIRE(a != NULL && b != NULL);
  extism_compiled_plugin_free(compiled);
  extism_function_free(user);
  extism_function_free(ns);
  CHECK_CALL(a, "greet_both", "x", "A x|B x");
  extism_plugin_free(a);
  CHECK(freed == 0);
  CHECK_CALL(b, "greet_both", "y", "A y|B y");
  extism_plugin_free(b);
  CHECK(freed == 2);
}

static void value_types(const char *backend) {
  ExtismValType params[] = {ExtismValType_I32, ExtismValType_I64, ExtismValType_F32, ExtismValType_F64};
  ExtismValType results[] = {ExtismValType_F64};
  ExtismFunction *f = extism_function_new("mix", params, 4, results, 1, mix, NULL, NULL);
  REQUIRE(f != NULL);
  const ExtismFunction *functions[] = {f};
  ExtismPlugin *plugin = new_plugin((const uint8_t *)MIX_WAT, strlen(MIX_WAT), functions, 1, backend);
  /* The export's i32 result is the return code. */
  CHECK(extism_plugin_call(plugin, "run", NULL, 0) == 7);
  CHECK(extism_plugin_error(plugin) == NULL);
  extism_plugin_free(plugin);
  extism_function_free(f);
}

static void bad_results(const char *backend, const uint8_t *wasm, size_t len) {
  ExtismValType ptr[] = {EXTISM_PTR};
  ExtismFunction *user = extism_function_new("greet", ptr, 1, ptr, 1, wrong_type, NULL, NULL);
  ExtismFunction *ns = extism_function_new("greet", ptr, 1, ptr, 1, wrong_type, NULL, NULL);
  extism_function_set_namespace(ns, "my:ns");
  const ExtismFunction *functions[] = {user, ns};
  ExtismPlugin *plugin = new_plugin(wasm, len, functions, 2, backend);
  CHECK(extism_plugin_call(plugin, "greet_user", (const uint8_t *)"x", 1) == -1);
  CHECK_CONTAINS(extism_plugin_error(plugin), "result 0");
  /* The plug-in stays usable. */
  CHECK(extism_plugin_function_exists(plugin, "greet_user"));
  extism_plugin_free(plugin);
  extism_function_free(user);
  extism_function_free(ns);

  /* Types outside the enum, and a NULL or non-UTF-8 name, are refused. */
  int bogus = 42;
  CHECK(extism_function_new("f", (const ExtismValType *)&bogus, 1, NULL, 0, mix, NULL, NULL) == NULL);
  CHECK(extism_function_new(NULL, NULL, 0, NULL, 0, mix, NULL, NULL) == NULL);
  CHECK(extism_function_new("\xff", NULL, 0, NULL, 0, mix, NULL, NULL) == NULL);
  extism_function_set_namespace(NULL, "x");
}

int main(void) {
  size_t len;
  uint8_t *wasm = read_wasm("host_functions.wasm", &len);
  for (const char **b = backends(); *b != NULL; b++) {
    greetings(*b, wasm, len);
    shared_by_compiled(*b, wasm, len);
    value_types(*b);
    bad_results(*b, wasm, len);
  }
  free(wasm);
  return check_result("host_functions");
}
