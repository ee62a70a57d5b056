//! The client side of freeze windows: ad-hoc freezes and break-glass promotions.

use crate::api::{ActionReply, FreezeRequest, PromoteRequest, UnfreezeRequest};

use super::{Client, ClientError};

impl Client {
    /// `POST /promote` with `override_freeze`: break-glass, with a reason.
    pub async fn promote_override(
        &self,
        service: &str,
        stage: &str,
        artifact: &str,
        reason: &str,
    ) -> Result<ActionReply, ClientError> {
        let body = PromoteRequest {
            service: service.to_string(),
            stage: stage.to_string(),
            artifact: artifact.to_string(),
            override_freeze: true,
            reason: Some(reason.to_string()),
        };
        self.post("/promote", &body).await
    }

    /// `POST /freeze`: `until` in RFC 3339.
    pub async fn freeze(
        &self,
        stage: &str,
        service: Option<&str>,
        until: &str,
        reason: &str,
    ) -> Result<ActionReply, ClientError> {
        let body = FreezeRequest {
            stage: stage.to_string(),
            service: service.map(str::to_string),
            until: until.to_string(),
            reason: reason.to_string(),
        };
        self.post("/freeze", &body).await
    }

    /// `POST /unfreeze`.
    pub async fn unfreeze(
        &self,
        stage: &str,
        service: Option<&str>,
        reason: Option<&str>,
    ) -> Result<ActionReply, ClientError> {
        let body = UnfreezeRequest {
            stage: stage.to_string(),
            service: service.map(str::to_string),
            reason: reason.map(str::to_string),
        };
        self.post("/unfreeze", &body).await
    }
}
