//! Who a signed-in user is, and where that is kept between requests.

mod cookie_store;
mod cookies;
mod login_state;
mod seal;
mod state;
mod store;

pub use cookie_store::CookieStore;
pub use cookies::{CookieWriter, request_cookie, request_cookies};
pub use login_state::{LoginAttempt, LoginCookies, LoginStateError};
pub use seal::Sealer;
pub use state::{Session, Tokens, unix_now};
pub use store::{Loaded, Rejection, SessionError, SessionStore, Store};

#[cfg(test)]
mod conformance;
