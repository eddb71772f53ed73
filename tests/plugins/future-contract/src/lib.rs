//! TEST FIXTURE: exports `warden:plugin/tools@0.9.0`, a later incompatible contract; the host
//! (which serves 0.1.x and 0.2.x) must refuse it by name.

wit_bindgen::generate!({ path: "wit", world: "plugin" });

struct Future;

impl exports::warden::plugin::tools::Guest for Future {
    fn describe() -> Vec<String> {
        vec!["from-the-future".to_owned()]
    }
}

export!(Future);
