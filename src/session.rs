//! Who a signed-in user is, and where that is kept between requests.

mod cookie_store;
mod state;
mod store;

pub use cookie_store::CookieStore;
pub use state::{Session, Tokens, unix_now};
pub use store::{Loaded, Rejection, SessionError, SessionStore, Store};

#[cfg(test)]
mod conformance;
