//! Front doors: the protocols other proxies use to ask Sekisho whether a request may pass.
//! Each door only translates; the decision is made below all of them.

pub mod envoy_proto;
pub mod ext_authz_grpc;
