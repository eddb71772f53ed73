//! Host-side bindings, one module per contract version (`wit/<version>/plugin.wit`). Each
//! `bindgen!` lives in its own module: the generated names would clash in one.

pub(super) mod v0_1;
pub(super) mod v0_2;
