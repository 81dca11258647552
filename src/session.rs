//! Who a signed-in user is, and where that is kept between requests. Handlers and the
//! authenticator use [`Sessions`]; the stores behind it are its business.

mod cookie_store;
mod cookies;
mod login_state;
mod redis_connection;
mod redis_store;
mod replay;
mod seal;
mod sessions;
mod shared_refresh;
mod state;
mod store;
mod ticket;

pub use cookie_store::CookieStore;
pub use cookies::{CookieWriter, request_cookie, request_cookies};
pub use login_state::{LoginAttempt, LoginCookies, LoginStateError};
pub use redis_connection::RedisConnection;
pub use redis_store::{RedisStore, SessionIndex};
pub use replay::Replay;
pub use seal::Sealer;
pub use sessions::{EndError, Sessions};
pub use shared_refresh::{RefreshSite, RefreshTiming, Refreshed};
pub use state::{ProviderKind, Session, Tokens, UnknownProviderKind, unix_now};
pub use store::{Loaded, Rejection, SessionError, SessionStore};
pub use ticket::Ticket;

#[cfg(test)]
mod conformance;
/// A Redis store with short timeouts, for tests elsewhere in the crate.
#[cfg(test)]
pub(crate) use redis_store::tests::store as test_redis_store;
/// A real `redis-server` for the Redis store's tests (shared with the end-to-end tests).
#[cfg(test)]
#[path = "../tests/common/redis.rs"]
pub(crate) mod test_redis;
