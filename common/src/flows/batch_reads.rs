//! The ERP as one batch of shipment messages sees it: each order's state is read at most once.
//! A shipment and the order-status change it caused arrive together (one ERP transaction fires
//! both notifications) and both need the order's state; reading it twice spends the licence's
//! per-minute budget for nothing.
//!
//! Safe because every message of a batch was enqueued before the batch was received, so a read
//! made while the batch runs comes after every change its messages announce; a later change
//! arrives in a later batch, which reads afresh.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::OnceCell;

use crate::model::{ConnectionId, ErpCustomerId, ErpOrderRef, Shipment};
use crate::ports::{ConnectorError, CustomerBindings, ErpOrderState, ErpShipments, LedgerError};

pub struct StatesReadOnce<'a> {
    inner: &'a dyn ErpShipments,
    states: Mutex<HashMap<ErpOrderRef, Arc<OnceCell<ErpOrderState>>>>,
}

impl<'a> StatesReadOnce<'a> {
    pub fn new(inner: &'a dyn ErpShipments) -> Self {
        Self { inner, states: Mutex::new(HashMap::new()) }
    }
}

#[async_trait]
impl ErpShipments for StatesReadOnce<'_> {
    async fn shipments_since(&self, since: DateTime<Utc>) -> Result<Vec<(ErpOrderRef, Shipment)>, ConnectorError> {
        self.inner.shipments_since(since).await
    }

    async fn shipment(&self, shipment_nbr: &str) -> Result<Vec<(ErpOrderRef, Shipment)>, ConnectorError> {
        self.inner.shipment(shipment_nbr).await
    }

    /// Concurrent askers for one order share one read; a failed read is not kept (the next
    /// asker reads again).
    async fn order_state(&self, erp: &ErpOrderRef) -> Result<ErpOrderState, ConnectorError> {
        let cell = self.states.lock().ok().map(|mut states| states.entry(erp.clone()).or_default().clone());
        let Some(cell) = cell else { return self.inner.order_state(erp).await };
        cell.get_or_try_init(|| self.inner.order_state(erp)).await.cloned()
    }

    async fn end_session(&self) {
        self.inner.end_session().await;
    }
}

/// The buyer bindings as one batch of imports sees them: each read at most once. The batch's
/// customer prefetch reads every buyer's binding to know whom to look up, and each import then
/// asks again; the second answer comes from here. Writes go through and drop what was read, so
/// the next read sees the store again.
pub struct BindingsReadOnce<'a> {
    inner: &'a dyn CustomerBindings,
    read: Mutex<BTreeMap<(ConnectionId, String), Option<ErpCustomerId>>>,
}

impl<'a> BindingsReadOnce<'a> {
    pub fn new(inner: &'a dyn CustomerBindings) -> Self {
        Self { inner, read: Mutex::new(BTreeMap::new()) }
    }

    fn drop_read(&self, connection: &ConnectionId, key: &str) {
        if let Ok(mut read) = self.read.lock() {
            read.remove(&(connection.clone(), key.to_owned()));
        }
    }
}

#[async_trait]
impl CustomerBindings for BindingsReadOnce<'_> {
    async fn customer_binding(
        &self,
        connection: &ConnectionId,
        channel_customer_id: &str,
    ) -> Result<Option<ErpCustomerId>, LedgerError> {
        let key = (connection.clone(), channel_customer_id.to_owned());
        if let Some(known) = self.read.lock().ok().and_then(|read| read.get(&key).cloned()) {
            return Ok(known);
        }
        let found = self.inner.customer_binding(connection, channel_customer_id).await?;
        if let Ok(mut read) = self.read.lock() {
            read.insert(key, found.clone());
        }
        Ok(found)
    }

    async fn bind_customer(
        &self,
        connection: &ConnectionId,
        channel_customer_id: &str,
        erp: &ErpCustomerId,
    ) -> Result<(), LedgerError> {
        self.drop_read(connection, channel_customer_id);
        self.inner.bind_customer(connection, channel_customer_id, erp).await
    }

    async fn forget_customer(
        &self,
        connection: &ConnectionId,
        channel_customer_id: &str,
        erp: &ErpCustomerId,
    ) -> Result<(), LedgerError> {
        self.drop_read(connection, channel_customer_id);
        self.inner.forget_customer(connection, channel_customer_id, erp).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// An ERP that counts state reads and fails the first one.
    #[derive(Default)]
    struct Counting {
        reads: AtomicU32,
    }

    #[async_trait]
    impl ErpShipments for Counting {
        async fn shipments_since(&self, _: DateTime<Utc>) -> Result<Vec<(ErpOrderRef, Shipment)>, ConnectorError> {
            Ok(Vec::new())
        }
        async fn shipment(&self, _: &str) -> Result<Vec<(ErpOrderRef, Shipment)>, ConnectorError> {
            Ok(Vec::new())
        }
        async fn order_state(&self, erp: &ErpOrderRef) -> Result<ErpOrderState, ConnectorError> {
            let n = self.reads.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            if n == 0 {
                return Err(ConnectorError::Transport {
                    vendor: "erp",
                    operation: "order state",
                    stage: crate::ports::TransportStage::Exchange,
                    source: "connection reset".into(),
                });
            }
            Ok(ErpOrderState {
                status: format!("Completed {erp}"),
                canonical: crate::model::OrderStatus::Completed,
                note: None,
                lines: Vec::new(),
                shipment_nbrs: Vec::new(),
            })
        }
    }

    #[tokio::test]
    async fn a_buyer_binding_is_read_once_per_batch_and_read_again_after_a_write() {
        let store = crate::testing::MemoryLedger::default();
        let batch = BindingsReadOnce::new(&store);
        let conn = ConnectionId::parse("bc-store").unwrap();
        let (a, b) = (ErpCustomerId::parse("BCA").unwrap(), ErpCustomerId::parse("BCB").unwrap());
        assert_eq!(batch.customer_binding(&conn, "buyer#1").await.unwrap(), None);
        // Bound behind the batch's back (another container): this batch keeps what it read.
        store.bind_customer(&conn, "buyer#1", &a).await.unwrap();
        assert_eq!(batch.customer_binding(&conn, "buyer#1").await.unwrap(), None, "read once");
        // Its own writes drop what it read.
        batch.bind_customer(&conn, "buyer#1", &b).await.unwrap();
        let stored = store.customer_binding(&conn, "buyer#1").await.unwrap();
        assert!(stored.is_some());
        assert_eq!(batch.customer_binding(&conn, "buyer#1").await.unwrap(), stored, "the store's binding");
        batch.forget_customer(&conn, "buyer#1", stored.as_ref().unwrap_or(&a)).await.unwrap();
        assert_eq!(batch.customer_binding(&conn, "buyer#1").await.unwrap(), None);
    }

    #[tokio::test]
    async fn each_orders_state_is_read_once_per_batch_and_a_failed_read_is_not_kept() {
        let erp = Counting::default();
        let batch = StatesReadOnce::new(&erp);
        let so1 = ErpOrderRef::parse("SO/SO1").unwrap();
        let so2 = ErpOrderRef::parse("SO/SO2").unwrap();
        assert!(batch.order_state(&so1).await.is_err(), "the first read fails");
        let (a, b, c) = tokio::join!(batch.order_state(&so1), batch.order_state(&so1), batch.order_state(&so2));
        assert_eq!(a.unwrap().status, "Completed SO/SO1");
        assert_eq!(b.unwrap().status, "Completed SO/SO1");
        assert_eq!(c.unwrap().status, "Completed SO/SO2");
        assert_eq!(erp.reads.load(Ordering::SeqCst), 3, "the failure, one read of SO1 shared by two, one of SO2");
        batch.order_state(&so1).await.unwrap();
        assert_eq!(erp.reads.load(Ordering::SeqCst), 3, "kept for the rest of the batch");
    }
}
