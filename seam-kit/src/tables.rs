//! The table limit ([`PluginStore::set_table_element_limit`]): no table of the store grows past it (`table.grow`
//! returns -1, as past a declared maximum) and a module whose table would start larger is not instantiated.

use extism_core::backend::{EngineApi, PluginStore};

use crate::plugin::Plugin;
use crate::setup::Setup;

/// A guest with a 10-element table it grows.
const TABLE: &str = r#"
(module
  (table $t 10 funcref)
  (func (export "answer") (result i32) (i32.const 42))
  (func (export "size") (result i32) (table.size $t))
  (func (export "grow_1") (result i32) (table.grow $t (ref.null func) (i32.const 1)))
  (func (export "grow_89") (result i32) (table.grow $t (ref.null func) (i32.const 89)))
  (func (export "grow_1000") (result i32) (table.grow $t (ref.null func) (i32.const 1000))))
"#;

/// With a limit of 100 elements: growth within it succeeds, past it returns -1 and changes nothing, the store stays
/// usable; a module with a 101-element table is refused.
pub fn limit_stops_growth_and_oversized_tables<B: EngineApi>() {
    let setup = Setup::<B>::new();
    let module = setup.compile(TABLE);
    let oversized = setup.compile(r#"(module (table 101 funcref))"#);
    let mut store = setup.store(&[&module, &oversized], &[]);
    store.set_table_element_limit(100).unwrap();
    let mut p = Plugin::<B>::instantiate(store, module)
        .unwrap_or_else(|e| panic!("{}: a 10-element table under a 100-element limit: {e}", B::NAME));
    assert_eq!(p.call("grow_1").ok(), Some(10), "{}: the old size", B::NAME);
    assert_eq!(p.call("grow_1000").ok(), Some(-1), "{}: past the limit", B::NAME);
    assert_eq!(p.call("size").ok(), Some(11), "{}", B::NAME);
    assert_eq!(p.call("grow_89").ok(), Some(11), "{}: up to the limit exactly", B::NAME);
    assert_eq!(p.call("grow_1").ok(), Some(-1), "{}: one past the limit", B::NAME);
    assert_eq!(p.call("size").ok(), Some(100), "{}", B::NAME);
    p.assert_usable();
    assert!(
        p.store.instantiate(&oversized).is_err(),
        "{}: a table that starts past the limit was instantiated",
        B::NAME
    );
}
