//! Runs a real Extism plug-in (built with the official Rust PDK) end to end and prints its output.
//!
//! ```text
//! cargo run --example count_vowels -- "Hello, world!"
//! EXTISM_EXAMPLE_VOWELS=aeiouy cargo run --example count_vowels -- "rhythm and blues"
//! ```

use extism::{Manifest, Plugin, Wasm};

fn main() -> Result<(), extism::Error> {
    let text = std::env::args().nth(1).unwrap_or_else(|| "Hello, world!".to_string());
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/wasm/count_vowels.wasm");
    let mut manifest = Manifest::new([Wasm::file(path)]);
    if let Ok(vowels) = std::env::var("EXTISM_EXAMPLE_VOWELS") {
        manifest = manifest.with_config_key("vowels", vowels);
    }
    let mut plugin = Plugin::new(&manifest, [], false)?;
    // Two calls on the same instance: the plug-in keeps a running total in a var.
    for _ in 0..2 {
        let output: String = plugin.call("count_vowels", text.as_str())?;
        println!("{output}");
    }
    eprintln!("(engine: {}, plug-in id: {})", plugin.backend(), plugin.id);
    Ok(())
}
