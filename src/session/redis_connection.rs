//! The connection to Redis: one server, the master Sentinel names, or a cluster. Every
//! operation is bounded by `session.redis_timeout`, so a dead or stopped Redis fails a request
//! (503) instead of holding it; a background task pings Redis every second, which keeps
//! `/ready` current, keeps idle connections from being dropped, and reconnects (asking the
//! sentinels again after a failover) without a request having to notice first.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    Client, Cmd, ConnectionAddr, FromRedisValue, Pipeline, RedisError, RedisFuture,
    TlsCertificates, TlsMode, Value,
};

use super::store::SessionError;
use crate::config::{RedisConfig, RedisNode, RedisTarget};
use crate::readiness::ReadinessCheck;

/// How often the background task checks Redis.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(1);

/// What commands are sent over: clones share the underlying connection.
#[derive(Clone)]
enum Link {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Link {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(cmd, offset, count),
            Self::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

/// A shared, self-healing connection to the configured Redis.
pub struct RedisConnection {
    target: RedisTarget,
    ca_pem: Option<Vec<u8>>,
    timeout: Duration,
    connect_timeout: Duration,
    /// The current link; `None` until a cluster or a Sentinel master is first reached. Held
    /// only to clone the link out or swap in a new one, never across an await.
    link: RwLock<Option<Link>>,
    /// `Err(reason)` while Redis is not usable, for `/ready`; `None` before the first check.
    status: RwLock<Option<Result<(), String>>>,
    /// The master's address last named by the sentinels.
    master: RwLock<Option<String>>,
}

impl std::fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConnection")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl RedisConnection {
    /// Prepares the connection without waiting for Redis: Sekisho starts, and reports not
    /// ready, while Redis is down.
    pub fn new(config: &RedisConfig) -> Result<Self, String> {
        let connection = Self {
            target: config.target.clone(),
            ca_pem: config.ca_pem.clone(),
            timeout: config.timeout,
            connect_timeout: config.connect_timeout,
            link: RwLock::new(None),
            status: RwLock::new(None),
            master: RwLock::new(None),
        };
        if let RedisTarget::Standalone { url } = &config.target {
            let client = connection.client(url.as_str())?;
            let manager = ConnectionManager::new_lazy_with_config(client, connection.manager())
                .map_err(|e| e.to_string())?;
            connection.swap(Link::Single(manager));
        }
        Ok(connection)
    }

    fn client(&self, url: &str) -> Result<Client, String> {
        let client = match &self.ca_pem {
            Some(pem) => Client::build_with_tls(
                url,
                TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                },
            ),
            None => Client::open(url),
        };
        client.map_err(|e| e.to_string())
    }

    /// Reconnects quickly and briefly: a request never waits on a reconnection for longer
    /// than its own timeout anyway, and the upkeep task tries again every second.
    fn manager(&self) -> ConnectionManagerConfig {
        ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(250))
    }

    /// Where Redis is, without credentials.
    pub fn describe(&self) -> String {
        self.target.describe()
    }

    fn current(&self) -> Option<Link> {
        self.link.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn swap(&self, link: Link) {
        *self.link.write().unwrap_or_else(|p| p.into_inner()) = Some(link);
    }

    /// Records whether Redis is usable, logging each change (and the first check).
    fn set_status(&self, status: Result<(), String>) {
        let mut current = self.status.write().unwrap_or_else(|p| p.into_inner());
        match (&*current, &status) {
            (None | Some(Ok(())), Err(why)) => {
                tracing::error!(redis = %self.target.describe(), reason = %why, "redis unavailable: session requests fail with 503 until it is back");
            }
            (None | Some(Err(_)), Ok(())) => {
                tracing::info!(redis = %self.target.describe(), kind = self.target.kind(), "redis reachable");
            }
            _ => {}
        }
        *current = Some(status);
    }

    /// Runs `cmd`, retrying once on a dropped connection (Redis restarted, or closed an idle
    /// connection), all within the configured timeout.
    pub async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, SessionError> {
        self.bounded(|mut link| async move { cmd.query_async::<T>(&mut link).await })
            .await
    }

    async fn bounded<'a, T, F, Fut>(&'a self, run: F) -> Result<T, SessionError>
    where
        F: Fn(Link) -> Fut,
        Fut: Future<Output = Result<T, RedisError>> + 'a,
    {
        let attempt = async {
            let link = self.current().ok_or_else(|| self.unavailable_reason())?;
            match run(link).await {
                Err(e) if retryable(&e) => {
                    let link = self.current().ok_or_else(|| self.unavailable_reason())?;
                    run(link).await.map_err(|e| self.failed(&e))
                }
                other => other.map_err(|e| self.failed(&e)),
            }
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(result) => result,
            Err(_) => {
                let why = format!(
                    "no answer within {}",
                    humantime::format_duration(self.timeout)
                );
                self.set_status(Err(why.clone()));
                Err(SessionError::Unavailable(why))
            }
        }
    }

    fn unavailable_reason(&self) -> SessionError {
        let why = match &*self.status.read().unwrap_or_else(|p| p.into_inner()) {
            Some(Err(why)) => why.clone(),
            _ => "not connected".into(),
        };
        SessionError::Unavailable(why)
    }

    /// The error for a failed command; connection-level failures also mark Redis unavailable
    /// until the upkeep task reaches it again.
    fn failed(&self, e: &RedisError) -> SessionError {
        let why = e.to_string();
        if connection_level(e) {
            self.set_status(Err(why.clone()));
        }
        SessionError::Unavailable(why)
    }

    /// Pings Redis every second (and first connects to a cluster or a Sentinel master), so
    /// `/ready` follows Redis and a restarted Redis is picked up by itself.
    pub fn spawn_upkeep(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut sentinel = match &this.target {
                RedisTarget::Sentinel { .. } => match this.sentinel_client() {
                    Ok(client) => Some(client),
                    Err(e) => {
                        this.set_status(Err(e));
                        return;
                    }
                },
                _ => None,
            };
            loop {
                let status = this.check(sentinel.as_mut()).await;
                this.set_status(status);
                tokio::time::sleep(UPKEEP_INTERVAL).await;
            }
        })
    }

    async fn check(&self, mut sentinel: Option<&mut SentinelClient>) -> Result<(), String> {
        if self.current().is_none() {
            self.establish(sentinel.as_deref_mut()).await?;
        }
        match self.probe(sentinel.is_some()).await {
            Err(why) if sentinel.is_some() => {
                // A failover: the sentinels name another master.
                tracing::warn!(reason = %why, "redis master not usable; asking the sentinels");
                self.establish(sentinel).await?;
                self.probe(true).await
            }
            other => other,
        }
    }

    /// PING; behind Sentinel, also that the server is still the master (after a failover
    /// the old master answers as a replica and refuses writes).
    async fn probe(&self, must_be_master: bool) -> Result<(), String> {
        if !must_be_master {
            let ping = self.query::<String>(&redis::cmd("PING")).await;
            return ping.map(|_| ()).map_err(|e| e.to_string());
        }
        let role = self
            .query::<Vec<Value>>(&redis::cmd("ROLE"))
            .await
            .map_err(|e| e.to_string())?;
        match role.first() {
            Some(Value::BulkString(role)) if role == b"master" => Ok(()),
            _ => Err("the server is no longer the master".into()),
        }
    }

    /// Connects to the cluster, or (again) to the master the sentinels name now.
    async fn establish(&self, sentinel: Option<&mut SentinelClient>) -> Result<(), String> {
        let wait = self.connect_timeout + self.timeout;
        match (&self.target, sentinel) {
            (RedisTarget::Cluster { .. }, _) => {
                let client = self.cluster_client()?;
                let connection = tokio::time::timeout(wait, client.get_async_connection())
                    .await
                    .map_err(|_| "no cluster node answered in time".to_owned())?
                    .map_err(|e| e.to_string())?;
                self.swap(Link::Cluster(connection));
            }
            (RedisTarget::Sentinel { master, .. }, Some(sentinel)) => {
                let client = tokio::time::timeout(wait, sentinel.async_get_client())
                    .await
                    .map_err(|_| "no sentinel answered in time".to_owned())?
                    .map_err(|e| format!("sentinels do not name master `{master}`: {e}"))?;
                let address = client.get_connection_info().addr().to_string();
                if self.master_address().as_deref() != Some(address.as_str()) {
                    let manager = ConnectionManager::new_lazy_with_config(client, self.manager())
                        .map_err(|e| e.to_string())?;
                    tracing::info!(%address, master = %master, "redis master from sentinel");
                    *self.master.write().unwrap_or_else(|p| p.into_inner()) = Some(address);
                    self.swap(Link::Single(manager));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn master_address(&self) -> Option<String> {
        self.master
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn cluster_client(&self) -> Result<redis::cluster::ClusterClient, String> {
        let RedisTarget::Cluster {
            nodes,
            credentials,
            tls,
        } = &self.target
        else {
            return Err("not a cluster".into());
        };
        let urls: Vec<String> = nodes.iter().map(|n| node_url(n, *tls)).collect();
        // Reads go to primaries only: a replica may not have the refreshed session yet.
        let mut builder = ClusterClientBuilder::new(urls)
            .connection_timeout(self.connect_timeout)
            .response_timeout(self.timeout)
            .retries(1);
        if let Some(user) = &credentials.username {
            builder = builder.username(user);
        }
        if let Some(password) = &credentials.password {
            builder = builder.password(password);
        }
        if *tls {
            builder = builder.tls(TlsMode::Secure);
            if let Some(pem) = &self.ca_pem {
                builder = builder.certs(TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                });
            }
        }
        builder.build().map_err(|e| e.to_string())
    }

    fn sentinel_client(&self) -> Result<SentinelClient, String> {
        let RedisTarget::Sentinel {
            nodes,
            master,
            db,
            credentials,
            tls,
        } = &self.target
        else {
            return Err("not a sentinel setup".into());
        };
        let addresses = nodes.iter().map(|n| {
            if *tls {
                ConnectionAddr::TcpTls {
                    host: n.host.clone(),
                    port: n.port,
                    insecure: false,
                    tls_params: None,
                }
            } else {
                ConnectionAddr::Tcp(n.host.clone(), n.port)
            }
        });
        let mut builder = SentinelClientBuilder::new(addresses, master, SentinelServerType::Master)
            .map_err(|e| e.to_string())?
            .set_client_to_redis_db(*db);
        if let Some(user) = &credentials.username {
            builder = builder.set_client_to_redis_username(user);
        }
        if let Some(password) = &credentials.password {
            builder = builder.set_client_to_redis_password(password);
        }
        if *tls {
            builder = builder
                .set_client_to_redis_tls_mode(TlsMode::Secure)
                .set_client_to_sentinel_tls_mode(TlsMode::Secure);
            if let Some(pem) = &self.ca_pem {
                let certs = TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                };
                builder = builder
                    .set_client_to_redis_certificates(certs.clone())
                    .set_client_to_sentinel_certificates(certs);
            }
        }
        builder.build().map_err(|e| e.to_string())
    }
}

fn node_url(node: &RedisNode, tls: bool) -> String {
    let scheme = if tls { "rediss" } else { "redis" };
    if node.host.contains(':') {
        format!("{scheme}://[{}]:{}", node.host, node.port)
    } else {
        format!("{scheme}://{}:{}", node.host, node.port)
    }
}

/// Worth one more try on a fresh connection.
fn retryable(e: &RedisError) -> bool {
    e.is_connection_dropped() || e.is_io_error() || e.is_unrecoverable_error()
}

/// A failure of the connection rather than of the command.
fn connection_level(e: &RedisError) -> bool {
    retryable(e)
        || e.is_timeout()
        || e.is_connection_refusal()
        || e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
}

impl ReadinessCheck for RedisConnection {
    fn name(&self) -> &str {
        "redis"
    }

    fn status(&self) -> Result<(), String> {
        self.status
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_else(|| Err("not checked yet".into()))
            .map_err(|why| format!("{}: {why}", self.target.describe()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_urls() {
        let node = |host: &str| RedisNode {
            host: host.into(),
            port: 7000,
        };
        assert_eq!(node_url(&node("n1"), false), "redis://n1:7000");
        assert_eq!(node_url(&node("::1"), true), "rediss://[::1]:7000");
    }
}
