//! The Kubernetes client: `kube::Client` from the environment, with a client-side token-bucket
//! rate limit (`--kubeclient-qps`/`--kubeclient-burst`, like client-go's).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use kube::client::ClientBuilder;
use tokio::time::{Instant, Sleep};
use tower::{Layer, Service};

/// Token bucket: `qps` tokens per second, at most `burst` stored.
#[derive(Debug)]
struct Bucket {
    qps: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn take(&mut self) -> Result<(), Duration> {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.qps).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.qps))
        }
    }
}

/// Layer limiting requests to `qps` per second with bursts of `burst`.
#[derive(Clone, Debug)]
pub struct QpsLayer {
    qps: f64,
    burst: u32,
}

impl QpsLayer {
    /// A limit of `qps` requests per second, `burst` at once.
    pub fn new(qps: f64, burst: u32) -> Self {
        QpsLayer { qps, burst }
    }
}

impl<S> Layer<S> for QpsLayer {
    type Service = Qps<S>;
    fn layer(&self, inner: S) -> Qps<S> {
        let burst = f64::from(self.burst.max(1));
        Qps {
            inner,
            bucket: Bucket {
                qps: self.qps,
                burst,
                tokens: burst,
                last: Instant::now(),
            },
            sleep: None,
            reserved: false,
        }
    }
}

/// The rate-limited service.
pub struct Qps<S> {
    inner: S,
    bucket: Bucket,
    sleep: Option<Pin<Box<Sleep>>>,
    reserved: bool,
}

impl<S, R> Service<R> for Qps<S>
where
    S: Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        while !self.reserved {
            if let Some(sleep) = self.sleep.as_mut() {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.sleep = None;
            }
            match self.bucket.take() {
                Ok(()) => self.reserved = true,
                Err(wait) => self.sleep = Some(Box::pin(tokio::time::sleep(wait))),
            }
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        self.reserved = false;
        self.inner.call(req)
    }
}

/// A client from the in-cluster config or `KUBECONFIG`, rate-limited unless `qps` ≤ 0.
pub async fn from_env(qps: f32, burst: u32) -> Result<kube::Client, kube::Error> {
    let config = kube::Config::infer()
        .await
        .map_err(kube::Error::InferConfig)?;
    let builder = ClientBuilder::try_from(config)?;
    if qps > 0.0 {
        Ok(builder
            .with_layer(&QpsLayer::new(f64::from(qps), burst))
            .build())
    } else {
        Ok(builder.build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bucket_allows_burst_then_paces() {
        let mut b = Bucket {
            qps: 10.0,
            burst: 2.0,
            tokens: 2.0,
            last: Instant::now(),
        };
        assert!(b.take().is_ok());
        assert!(b.take().is_ok());
        let wait = b.take().unwrap_err();
        assert!(wait <= Duration::from_millis(100));
        tokio::time::sleep(Duration::from_millis(110)).await;
        assert!(b.take().is_ok());
    }
}
