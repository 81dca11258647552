//! Protocol switches (WebSocket): once the app has agreed, the client's connection and the
//! app's are joined, and bytes are copied both ways until either side closes.

use std::sync::Arc;

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

/// Joins the two connections in the background once both have switched protocols (the
/// client's does when the `101` response has been written to it).
pub fn splice(client: OnUpgrade, app: OnUpgrade, upstream: Arc<str>) {
    tokio::spawn(async move {
        let (client, app) = match tokio::try_join!(client, app) {
            Ok(both) => both,
            Err(error) => {
                tracing::info!(%upstream, %error, "protocol switch not completed");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut app = TokioIo::new(app);
        match tokio::io::copy_bidirectional(&mut client, &mut app).await {
            Ok((to_app, to_client)) => {
                tracing::debug!(%upstream, to_app, to_client, "upgraded connection closed");
            }
            Err(error) => {
                tracing::debug!(%upstream, %error, "upgraded connection ended with an error");
            }
        }
    });
}
