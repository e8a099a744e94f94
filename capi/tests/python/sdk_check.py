"""Runs the official Python host SDK (PyPI `extism`, unmodified) on our libextism.

The Rust test `capi/tests/python_sdk.rs` uses the virtualenv made by `setup-sdk.sh` (the SDK as published),
points its `extism_sys` package at our library, and runs this script once per compiled engine with EXTISM_BACKEND set. Usage:
    python sdk_check.py WASM_DIR
Exits non-zero (with a traceback) on the first failed expectation.
"""

import json
import os
import sys
import tempfile
import threading
import time
import uuid

import extism
from extism import CurrentPlugin

# Not re-exported by the package, but public in its module (the SDK itself creates every Plugin through it).
from extism.extism import CompiledPlugin

WASM_DIR = sys.argv[1]


def wasm(name):
    with open(os.path.join(WASM_DIR, name), "rb") as f:
        return f.read()


@extism.host_fn(name="greet")
def greet(plugin: CurrentPlugin, name: str) -> str:
    # The call's host context (every SDK call passes one), when it is a string, replaces the greeting.
    context = plugin.host_context()
    prefix = context if isinstance(context, str) else "Hello, "
    # Kernel memory from the host side: allocate, check, free.
    scratch = plugin.alloc(16)
    assert scratch.offset != 0
    assert plugin.memory_at_offset(scratch.offset).length == 16
    plugin.free(scratch)
    return prefix + name


@extism.host_fn(name="greet", namespace="my:ns")
def greet_ns(name: str) -> str:
    return "Hi, " + name


def check_version():
    version = extism.extism_version()
    assert version and "," not in version, version


def check_count_vowels():
    with extism.Plugin(wasm("count_vowels.wasm"), functions=[]) as plugin:
        assert isinstance(plugin.id, uuid.UUID) and plugin.id.version == 4
        assert plugin.function_exists("count_vowels")
        assert not plugin.function_exists("nope")
        first = json.loads(plugin.call("count_vowels", "Hello, world!"))
        second = json.loads(plugin.call("count_vowels", b"aaa"))
        assert first == {"count": 3, "total": 3, "vowels": "aeiouAEIOU"}, first
        assert second["total"] == 6, second


def check_manifest_and_config():
    manifest = {"wasm": [{"path": os.path.join(WASM_DIR, "count_vowels.wasm")}], "config": {"vowels": "l"}}
    with extism.Plugin(manifest, functions=[]) as plugin:
        assert json.loads(plugin.call("count_vowels", "Hello"))["count"] == 2
    with extism.Plugin(wasm("kitchen.wasm"), config={"greeting": "hi"}, functions=[]) as plugin:
        assert json.loads(plugin.call("config_get", "greeting")) == {"value": "hi"}


def check_errors():
    with extism.Plugin(wasm("kitchen.wasm"), functions=[]) as plugin:
        try:
            plugin.call("fail", "it went wrong")
            raise AssertionError("fail did not raise")
        except extism.Error as e:
            assert str(e) == "it went wrong", str(e)
        try:
            plugin.call("trap", "")
            raise AssertionError("trap did not raise")
        except extism.Error:
            pass
        try:
            plugin.call("nope", "")
            raise AssertionError("nope did not raise")
        except extism.Error as e:
            assert "Function not found: nope" in str(e), str(e)
        # Usable after failures.
        assert plugin.call("input_length", "abc") == b"3"
    try:
        extism.Plugin(b"not wasm", functions=[])
        raise AssertionError("invalid wasm did not raise")
    except extism.Error as e:
        assert "Unable to compile Extism plugin" in str(e), str(e)


def check_host_functions():
    functions = [greet, greet_ns]
    with extism.Plugin(wasm("host_functions.wasm"), functions=functions) as plugin:
        assert plugin.call("greet_both", "Ada") == b"Hello, Ada|Hi, Ada"
        assert plugin.call("greet_user", "Bob", host_context="Hey, ") == b"Hey, Bob"
    compiled = CompiledPlugin(wasm("host_functions.wasm"), functions=functions)
    a = extism.Plugin(compiled)
    b = extism.Plugin(compiled)
    assert a.id != b.id
    assert a.call("greet_user", "x") == b"Hello, x"
    assert b.call("greet_user", "y") == b"Hello, y"
    del a, b, compiled


def check_cancel():
    with extism.Plugin(wasm("kitchen.wasm"), functions=[]) as plugin:
        handle = plugin.cancel_handle()
        outcome = {}

        def run():
            try:
                plugin.call("loop_forever", "")
                outcome["error"] = None
            except extism.Error as e:
                outcome["error"] = str(e)

        thread = threading.Thread(target=run)
        thread.start()
        deadline = time.time() + 60
        while thread.is_alive() and time.time() < deadline:
            time.sleep(0.1)
            assert handle.cancel()
        thread.join(timeout=5)
        assert not thread.is_alive(), "the call was not cancelled"
        assert outcome["error"] == "timeout", outcome
        assert plugin.call("input_length", "ab") == b"2"


def check_debug_env():
    """Upstream's debugging variables, read when a plug-in is created: a trapping call (here a timeout) writes a wasm
    core dump to EXTISM_COREDUMP and the kernel's memory to EXTISM_MEMDUMP; a successful call writes neither."""
    with tempfile.TemporaryDirectory() as scratch:
        coredump = os.path.join(scratch, "extism.core")
        memdump = os.path.join(scratch, "extism.mem")
        os.environ["EXTISM_COREDUMP"] = coredump
        os.environ["EXTISM_MEMDUMP"] = memdump
        try:
            manifest = {"wasm": [{"path": os.path.join(WASM_DIR, "kitchen.wasm")}], "timeout_ms": 200}
            with extism.Plugin(manifest, functions=[]) as plugin:
                assert plugin.call("input_length", "abc") == b"3"
                assert not os.path.exists(coredump) and not os.path.exists(memdump), "written after a good call"
                try:
                    plugin.call("loop_forever", "")
                    raise AssertionError("loop_forever returned")
                except extism.Error as e:
                    assert str(e) == "timeout", str(e)
        finally:
            del os.environ["EXTISM_COREDUMP"]
            del os.environ["EXTISM_MEMDUMP"]
        with open(coredump, "rb") as f:
            dump = f.read()
        assert dump[:4] == b"\0asm", dump[:8]
        assert b"corestack" in dump, "no corestack section"
        assert os.path.getsize(memdump) > 0


def main():
    backend = os.environ.get("EXTISM_BACKEND", "(default)")
    for check in [
        check_version,
        check_count_vowels,
        check_manifest_and_config,
        check_errors,
        check_host_functions,
        check_cancel,
        check_debug_env,
    ]:
        check()
        print(f"{backend}: {check.__name__} ok", flush=True)


if __name__ == "__main__":
    main()
