//! TEST FIXTURE: exports `warden:plugin/tools@0.2.0`; the host (0.1.x) must refuse it by name.

wit_bindgen::generate!({ path: "wit", world: "plugin" });

struct Future;

impl exports::warden::plugin::tools::Guest for Future {
    fn describe() -> Vec<String> {
        vec!["from-the-future".to_owned()]
    }
}

export!(Future);
