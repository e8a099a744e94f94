// The C++ twin of host_check.c: a C++ host built against an installed libextism (extism.h is C, usable from C++
// as is). Prints the version and engines, then runs count_vowels (argv[1]) on every engine compiled in, handing the
// module over in memory as upstream's C++ SDK does: a manifest whose data is {"ptr": address, "len": bytes}.
#include <extism.h>

#include <cstdint>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

int main(int argc, char **argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " count_vowels.wasm\n";
    return 2;
  }
  std::cout << "version " << extism_version() << "\n";
  std::cout << "engines " << extism_backends() << "\n";
  std::ifstream file(argv[1], std::ios::binary);
  std::vector<uint8_t> wasm((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  std::ostringstream manifest;
  manifest << R"({"wasm": [{"data": {"ptr": )" << reinterpret_cast<std::uintptr_t>(wasm.data())
           << R"(, "len": )" << wasm.size() << "}}]}";
  const std::string json = manifest.str();
  std::istringstream engines(extism_backends());
  for (std::string engine; std::getline(engines, engine, ',');) {
    char *error = nullptr;
    ExtismPlugin *plugin = extism_plugin_new_with_backend(reinterpret_cast<const uint8_t *>(json.data()), json.size(),
                                                          nullptr, 0, false, engine.c_str(), nullptr, &error);
    if (plugin == nullptr) {
      std::cerr << engine << ": " << error << "\n";
      return 1;
    }
    const std::string input = "Hello, world!";
    if (extism_plugin_call(plugin, "count_vowels", reinterpret_cast<const uint8_t *>(input.data()), input.size()) !=
        EXTISM_SUCCESS) {
      std::cerr << engine << ": " << extism_plugin_error(plugin) << "\n";
      return 1;
    }
    std::string output(reinterpret_cast<const char *>(extism_plugin_output_data(plugin)),
                       extism_plugin_output_length(plugin));
    std::cout << extism_plugin_backend(plugin) << " " << output << "\n";
    extism_plugin_free(plugin);
  }
  return 0;
}
