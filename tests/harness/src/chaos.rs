//! Chaos for the exactly-once claims: invocations killed at chosen points, poison messages, DLQ
//! redrive, and a Jepsen-style accounting of what reached the ERP and the channels.
//!
//! A kill is a panic inside the handler, caught by the driver like the Lambda service sees a
//! crashed invocation: nothing of its batch is deleted, its acknowledgements never go out, and its
//! claims stay held until their lease ends.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orderbridge::aws::LedgerError;
use orderbridge::connectors::ConnectorError;
use orderbridge::mapping::SalesOrderDraft;
use orderbridge::model::{
    ChannelOrderId, ConnectionId, Customer, ErpCustomerId, ErpItemId, ErpOrderRef, IdentifierKind, Order,
};
use orderbridge::ports::{
    Acknowledgement, Binding, Bindings, ClaimKey, ClaimLease, ClaimOutcome, ClaimRecord, Claims, Cursor, Cursors,
    CustomerLookup, FollowedOrder, FollowedOrders, Ledger, MappingStore, Markers, OrderPage, OrderSink, OrderSource,
    PageToken, StoredMapping,
};
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;

/// Where an invocation can be killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum KillPoint {
    /// Claimed, ERP order not created yet.
    BeforeCreate,
    /// ERP order created, binding not written.
    BeforeBind,
    /// Bound, claim not completed and the channel not acknowledged.
    BeforeComplete,
    /// The batch's orders created, bound and their claims completed, the channel not told and
    /// the SQS batch not deleted: the redelivery (or the next pull) must acknowledge again.
    BeforeAcknowledge,
    /// A tracking push done, its claim not completed.
    BeforePushComplete,
    /// A shipment created or updated in ShipStation, its export record not written.
    BeforeExportRecord,
}

/// Decides, with a seeded RNG, whether to kill at a point; counts the kills.
pub struct KillSwitch {
    rate: f64,
    rng: Mutex<rand::rngs::StdRng>,
    kills: Mutex<BTreeMap<KillPoint, u32>>,
    pub armed: AtomicU32,
}

impl KillSwitch {
    pub fn new(rate: f64, seed: u64) -> Arc<Self> {
        Arc::new(Self {
            rate,
            rng: Mutex::new(rand::rngs::StdRng::seed_from_u64(seed)),
            kills: Mutex::new(BTreeMap::new()),
            armed: AtomicU32::new(1),
        })
    }

    /// Stops killing (the final drain must be able to finish).
    pub fn disarm(&self) {
        self.armed.store(0, Ordering::SeqCst);
    }

    pub fn kills(&self) -> BTreeMap<KillPoint, u32> {
        self.kills.lock().map(|k| k.clone()).unwrap_or_default()
    }

    fn maybe_kill(&self, point: KillPoint) {
        if self.armed.load(Ordering::SeqCst) == 0 {
            return;
        }
        let hit = self.rng.lock().map(|mut r| r.gen_bool(self.rate)).unwrap_or(false);
        if hit {
            if let Ok(mut k) = self.kills.lock() {
                *k.entry(point).or_default() += 1;
            }
            panic!("chaos: invocation killed at {point:?}");
        }
    }
}

/// The ledger with kill points before `bind` and `complete`.
pub struct KillingLedger {
    pub inner: Arc<dyn Ledger>,
    pub switch: Arc<KillSwitch>,
}

#[async_trait]
impl Claims for KillingLedger {
    async fn claim(&self, key: &ClaimKey, owner: &str, lease: Duration) -> Result<ClaimOutcome, LedgerError> {
        self.inner.claim(key, owner, lease).await
    }

    async fn complete(&self, lease: &ClaimLease, result: &str) -> Result<(), LedgerError> {
        let point = if lease.key.as_str().starts_with("PUSH#") {
            KillPoint::BeforePushComplete
        } else {
            KillPoint::BeforeComplete
        };
        self.switch.maybe_kill(point);
        self.inner.complete(lease, result).await
    }

    async fn fail(&self, lease: &ClaimLease, reason: &str) -> Result<(), LedgerError> {
        self.inner.fail(lease, reason).await
    }

    async fn release(&self, lease: &ClaimLease) -> Result<(), LedgerError> {
        self.inner.release(lease).await
    }

    async fn claim_record(&self, key: &ClaimKey) -> Result<Option<ClaimRecord>, LedgerError> {
        self.inner.claim_record(key).await
    }

    async fn rewrite_failure(&self, key: &ClaimKey, failure: &str) -> Result<(), LedgerError> {
        self.inner.rewrite_failure(key, failure).await
    }
}

#[async_trait]
impl Bindings for KillingLedger {
    async fn bind(&self, binding: &Binding) -> Result<(), LedgerError> {
        self.switch.maybe_kill(KillPoint::BeforeBind);
        self.inner.bind(binding).await
    }

    async fn binding_for_channel(
        &self,
        connection: &ConnectionId,
        order: &ChannelOrderId,
    ) -> Result<Option<Binding>, LedgerError> {
        self.inner.binding_for_channel(connection, order).await
    }

    async fn binding_for_erp(&self, erp: &ErpOrderRef) -> Result<Option<Binding>, LedgerError> {
        self.inner.binding_for_erp(erp).await
    }
}

#[async_trait]
impl Cursors for KillingLedger {
    async fn cursor(&self, connection: &ConnectionId, stream: &str) -> Result<Option<Cursor>, LedgerError> {
        self.inner.cursor(connection, stream).await
    }

    async fn save_cursor(
        &self,
        connection: &ConnectionId,
        stream: &str,
        value: &str,
        expected_version: Option<u64>,
    ) -> Result<Cursor, LedgerError> {
        if stream.starts_with("export#") {
            self.switch.maybe_kill(KillPoint::BeforeExportRecord);
        }
        self.inner.save_cursor(connection, stream, value, expected_version).await
    }
}

#[async_trait]
impl Markers for KillingLedger {
    async fn remember_once(&self, scope: &str, key: &str, ttl: Duration) -> Result<bool, LedgerError> {
        self.inner.remember_once(scope, key, ttl).await
    }

    async fn seen(&self, scope: &str, key: &str) -> Result<bool, LedgerError> {
        self.inner.seen(scope, key).await
    }

    async fn forget(&self, scope: &str, key: &str) -> Result<(), LedgerError> {
        self.inner.forget(scope, key).await
    }
}

#[async_trait]
impl MappingStore for KillingLedger {
    async fn save_mapping(&self, name: &str, source_path: &str, source: &str) -> Result<StoredMapping, LedgerError> {
        self.inner.save_mapping(name, source_path, source).await
    }

    async fn latest_mapping(&self, name: &str) -> Result<Option<StoredMapping>, LedgerError> {
        self.inner.latest_mapping(name).await
    }

    async fn mapping_version(&self, name: &str, version: u64) -> Result<Option<StoredMapping>, LedgerError> {
        self.inner.mapping_version(name, version).await
    }
}

#[async_trait]
impl orderbridge::ports::CustomerBindings for KillingLedger {
    async fn customer_binding(
        &self,
        connection: &ConnectionId,
        channel_customer_id: &str,
    ) -> Result<Option<ErpCustomerId>, LedgerError> {
        self.inner.customer_binding(connection, channel_customer_id).await
    }

    async fn bind_customer(
        &self,
        connection: &ConnectionId,
        channel_customer_id: &str,
        erp: &ErpCustomerId,
    ) -> Result<(), LedgerError> {
        self.inner.bind_customer(connection, channel_customer_id, erp).await
    }

    async fn forget_customer(
        &self,
        connection: &ConnectionId,
        channel_customer_id: &str,
        erp: &ErpCustomerId,
    ) -> Result<(), LedgerError> {
        self.inner.forget_customer(connection, channel_customer_id, erp).await
    }
}

#[async_trait]
impl orderbridge::ports::StockLevels for KillingLedger {
    async fn pushed_levels(
        &self,
        connection: &ConnectionId,
    ) -> Result<std::collections::HashMap<String, orderbridge::model::PushedLevel>, LedgerError> {
        self.inner.pushed_levels(connection).await
    }

    async fn record_levels(
        &self,
        connection: &ConnectionId,
        levels: &[(String, orderbridge::model::PushedLevel)],
    ) -> Result<(), LedgerError> {
        self.inner.record_levels(connection, levels).await
    }
}

#[async_trait]
impl FollowedOrders for KillingLedger {
    async fn follow(&self, order: &FollowedOrder) -> Result<(), LedgerError> {
        self.inner.follow(order).await
    }

    async fn followed(
        &self,
        connection: &ConnectionId,
        after: Option<&ChannelOrderId>,
        limit: usize,
    ) -> Result<Vec<FollowedOrder>, LedgerError> {
        self.inner.followed(connection, after, limit).await
    }

    async fn followed_order(
        &self,
        connection: &ConnectionId,
        order: &ChannelOrderId,
    ) -> Result<Option<FollowedOrder>, LedgerError> {
        self.inner.followed_order(connection, order).await
    }

    async fn save_followed(&self, order: &FollowedOrder) -> Result<(), LedgerError> {
        self.inner.save_followed(order).await
    }

    async fn mark_shipped(
        &self,
        connection: &ConnectionId,
        order: &ChannelOrderId,
        at: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        self.inner.mark_shipped(connection, order, at).await
    }
}

tokio::task_local! {
    /// Set while an order-import invocation runs. Only there is `acknowledge` a kill point:
    /// order-pull re-acknowledges too, but the driver runs pulls outside its catch, and a killed
    /// pull (cursor, enqueue marks) is a different experiment.
    static IMPORT_INVOCATION: ();
}

/// Runs `invocation` as order-import, where the channel's `acknowledge` can be killed.
pub async fn as_import_invocation<F: Future>(invocation: F) -> F::Output {
    IMPORT_INVOCATION.scope((), invocation).await
}

/// A sales channel with a kill point before `acknowledge` (in order-import only).
pub struct KillingSource {
    pub inner: Arc<dyn OrderSource>,
    pub switch: Arc<KillSwitch>,
}

#[async_trait]
impl OrderSource for KillingSource {
    fn connection(&self) -> &ConnectionId {
        self.inner.connection()
    }
    async fn list_new_orders(&self, page: Option<&PageToken>) -> Result<OrderPage, ConnectorError> {
        self.inner.list_new_orders(page).await
    }
    async fn fetch_order(&self, id: &ChannelOrderId) -> Result<Order, ConnectorError> {
        self.inner.fetch_order(id).await
    }
    async fn fetch_announced(&self, id: &ChannelOrderId) -> Result<orderbridge::ports::AnnouncedOrder, ConnectorError> {
        self.inner.fetch_announced(id).await
    }
    async fn acknowledge(&self, acks: &[Acknowledgement]) -> Result<Vec<ChannelOrderId>, ConnectorError> {
        if IMPORT_INVOCATION.try_with(|_| ()).is_ok() {
            self.switch.maybe_kill(KillPoint::BeforeAcknowledge);
        }
        self.inner.acknowledge(acks).await
    }
}

/// The ERP with a kill point before `create_order`.
pub struct KillingSink {
    pub inner: Arc<dyn OrderSink<Draft = SalesOrderDraft>>,
    pub switch: Arc<KillSwitch>,
}

#[async_trait]
impl OrderSink for KillingSink {
    type Draft = SalesOrderDraft;
    fn derive_customer_id(&self, prefix: &str, customer: &Customer) -> Option<ErpCustomerId> {
        self.inner.derive_customer_id(prefix, customer)
    }
    async fn find_by_import_id(&self, import_id: &str) -> Result<Option<ErpOrderRef>, ConnectorError> {
        self.inner.find_by_import_id(import_id).await
    }
    async fn create_order(&self, draft: &SalesOrderDraft) -> Result<ErpOrderRef, ConnectorError> {
        self.switch.maybe_kill(KillPoint::BeforeCreate);
        self.inner.create_order(draft).await
    }
    async fn find_customer(&self, lookup: CustomerLookup<'_>) -> Result<Option<ErpCustomerId>, ConnectorError> {
        self.inner.find_customer(lookup).await
    }
    async fn prefetch_customers(&self, lookups: &[CustomerLookup<'_>]) -> Result<(), ConnectorError> {
        self.inner.prefetch_customers(lookups).await
    }
    async fn create_customer(
        &self,
        id: &ErpCustomerId,
        customer: &Customer,
        order: &Order,
        class: Option<&str>,
    ) -> Result<ErpCustomerId, ConnectorError> {
        self.inner.create_customer(id, customer, order, class).await
    }
    async fn resolve_item(&self, kind: IdentifierKind, value: &str) -> Result<Option<ErpItemId>, ConnectorError> {
        self.inner.resolve_item(kind, value).await
    }
    async fn end_session(&self) {
        self.inner.end_session().await;
    }
}

/// Channel orders waiting to be imported when the run starts: Import ID → channel grand total.
pub fn new_channel_orders(sandbox: &orderbridge_sandbox::Sandbox) -> BTreeMap<String, Decimal> {
    let state = sandbox.state();
    let mut out = BTreeMap::new();
    for o in state.sellercloud().orders.values().filter(|o| o.status_code == 2 && !o.is_exported) {
        out.insert(format!("SC-{}", o.id), o.gen.grand_total());
    }
    for o in state.bigcommerce().orders.values().filter(|o| o.status_id == 11) {
        out.insert(format!("BC-{}", o.id), o.gen.grand_total());
    }
    out
}

/// Magento storefront orders the run must import (status `processing`, no `ext_order_id`): Import
/// ID → grand total rounded to the cent.
pub fn new_storefront_orders(sandbox: &orderbridge_sandbox::Sandbox) -> BTreeMap<String, Decimal> {
    crate::report::magento_importable(sandbox)
        .iter()
        .map(|(id, o)| (format!("MG-{id}"), crate::report::json_decimal(&o["grand_total"]).round_dp(2)))
        .collect()
}

/// The accounting printed at the end, in the style of Jepsen's total-queue checker.
#[derive(Debug, Default)]
pub struct Accounting {
    /// BigCommerce orders announced by the store's order webhooks (among `seen`), how many the
    /// import took from the announcement before any pull, and whether the hook BigCommerce
    /// disabled mid-run was re-enabled.
    pub webhook_orders: usize,
    pub webhook_imported_without_pull: usize,
    pub webhook_hook_disabled: bool,
    pub webhook_hook_reenabled: bool,
    pub seen: usize,
    pub created: usize,
    pub acknowledged: usize,
    pub lost: Vec<String>,
    pub unexpected: Vec<String>,
    pub erp_duplicates: Vec<String>,
    pub wrong_totals: Vec<String>,
    /// Shipments made, each with one tracking number: confirmed in the ERP or bought as a label
    /// in ShipStation (`shipped_via_shipstation` of them).
    pub shipped: usize,
    pub shipped_via_shipstation: usize,
    pub tracking_on_channel: usize,
    pub tracking_missing: Vec<String>,
    pub tracking_duplicates: Vec<String>,
    /// Magento storefront orders (processing, not created from outside) and what became of them:
    /// imported once, acknowledged (a comment naming the ERP order), lost, imported that should
    /// not be, created more than once, ERP total differing from Magento's grand total.
    pub storefront_seen: usize,
    pub storefront_created: usize,
    pub storefront_acknowledged: usize,
    pub storefront_lost: Vec<String>,
    pub storefront_unexpected: Vec<String>,
    pub storefront_duplicates: Vec<String>,
    pub storefront_wrong_totals: Vec<String>,
    /// Stock: items both catalogues hold compared after the run, those whose Magento quantity is
    /// not Acumatica's available quantity, ERP items the store does not sell, items adjusted in
    /// Acumatica during the run, Magento stock writes, and catch-up polls it took.
    pub stock_compared: usize,
    pub stock_differing: Vec<String>,
    pub stock_not_sold: usize,
    pub stock_adjusted: usize,
    pub stock_writes: usize,
    pub stock_passes: u32,
    /// Orders entered in the ERP for the storefront, and what became of them there.
    pub erp_origin_entered: usize,
    pub erp_origin_created: usize,
    pub erp_origin_lost: Vec<String>,
    pub erp_origin_duplicates: Vec<String>,
    pub erp_origin_wrong_totals: Vec<String>,
    /// Storefront orders that are none of the entered ERP orders (an imported order sent back).
    pub erp_origin_unexpected: Vec<String>,
    /// Shipments exported to ShipStation: expected, created once, lost, duplicated; labels written
    /// back onto the ERP shipment (confirmed, the tracking on one package) and those missing.
    pub export_expected: usize,
    pub export_created: usize,
    pub export_lost: Vec<String>,
    pub export_duplicates: Vec<String>,
    pub labels_back: usize,
    pub labels_missing: Vec<String>,
    /// Imported Sellercloud orders whose P&L charges were compared with their ERP fields, and the
    /// ones that differ; follow-up passes it took.
    pub charges_checked: usize,
    pub charges_wrong: Vec<String>,
    pub charge_passes: u32,
    /// Customer-service notes written on imported Sellercloud orders' ERP orders during the run:
    /// how many, how many reached the channel order exactly once, the ones that did not arrive or
    /// arrived more than once, and Customer Service Notes on orders no note was written for.
    pub notes_written: usize,
    pub notes_once: usize,
    pub notes_lost: Vec<String>,
    pub notes_duplicates: Vec<String>,
    pub notes_unexpected: Vec<String>,
    /// What the DLQs hold after the redrive.
    pub dlq: Vec<DlqEntry>,
    pub poison_injected: usize,
    pub kills: BTreeMap<KillPoint, u32>,
    pub started: Option<DateTime<Utc>>,
}

/// One message left in a DLQ.
#[derive(Debug, Clone)]
pub struct DlqEntry {
    /// Not a readable envelope: injected poison (anything else must not stay in a DLQ).
    pub poison: bool,
    /// Which DLQ, and what the message is.
    pub what: String,
}

impl Accounting {
    /// True when nothing was lost, unexpected or duplicated, money is exact, every shipment reached
    /// its channel once, and the DLQs hold exactly the poison.
    pub fn ok(&self) -> bool {
        (!self.webhook_hook_disabled || self.webhook_hook_reenabled)
            && self.lost.is_empty()
            && self.unexpected.is_empty()
            && self.erp_duplicates.is_empty()
            && self.wrong_totals.is_empty()
            && self.tracking_missing.is_empty()
            && self.tracking_duplicates.is_empty()
            && self.acknowledged == self.seen
            && self.storefront_lost.is_empty()
            && self.storefront_unexpected.is_empty()
            && self.storefront_duplicates.is_empty()
            && self.storefront_wrong_totals.is_empty()
            && self.storefront_created == self.storefront_seen
            && self.storefront_acknowledged == self.storefront_seen
            && self.stock_differing.is_empty()
            && self.erp_origin_lost.is_empty()
            && self.erp_origin_duplicates.is_empty()
            && self.erp_origin_wrong_totals.is_empty()
            && self.erp_origin_unexpected.is_empty()
            && self.erp_origin_created == self.erp_origin_entered
            && self.charges_wrong.is_empty()
            && self.notes_once == self.notes_written
            && self.notes_lost.is_empty()
            && self.notes_duplicates.is_empty()
            && self.notes_unexpected.is_empty()
            && self.export_lost.is_empty()
            && self.export_duplicates.is_empty()
            && self.labels_missing.is_empty()
            && self.export_created == self.export_expected
            && self.labels_back == self.export_expected
            && self.dlq.iter().all(|e| e.poison)
            && self.dlq.len() == self.poison_injected
    }

    pub fn print(&self) {
        let list = |v: &[String]| {
            if v.is_empty() {
                String::new()
            } else {
                format!("  {}", v.iter().take(10).cloned().collect::<Vec<_>>().join(", "))
            }
        };
        println!("  orders seen in the channels        {:>7}", self.seen);
        if self.webhook_orders > 0 {
            println!(
                "  of them announced by webhook       {:>7} ({} imported before any pull; disabled hook re-enabled: {})",
                self.webhook_orders,
                self.webhook_imported_without_pull,
                if self.webhook_hook_reenabled { "yes" } else { "NO" }
            );
        }
        println!("  created in the ERP                 {:>7}", self.created);
        println!("  acknowledged in the channels       {:>7}", self.acknowledged);
        println!("  lost                               {:>7}{}", self.lost.len(), list(&self.lost));
        println!("  unexpected                         {:>7}{}", self.unexpected.len(), list(&self.unexpected));
        println!("  ERP duplicates                     {:>7}{}", self.erp_duplicates.len(), list(&self.erp_duplicates));
        println!("  ERP total != channel total         {:>7}{}", self.wrong_totals.len(), list(&self.wrong_totals));
        println!(
            "  shipments made                     {:>7} ({} confirmed in Acumatica, {} labels in ShipStation)",
            self.shipped,
            self.shipped.saturating_sub(self.shipped_via_shipstation),
            self.shipped_via_shipstation
        );
        println!("  tracking on the channel order      {:>7}", self.tracking_on_channel);
        println!(
            "  tracking missing                   {:>7}{}",
            self.tracking_missing.len(),
            list(&self.tracking_missing)
        );
        println!(
            "  tracking duplicates                {:>7}{}",
            self.tracking_duplicates.len(),
            list(&self.tracking_duplicates)
        );
        println!(
            "  Magento storefront orders (processing) {:>3}: imported once {}, acknowledged {}, lost {}, unexpected {}, \
             ERP duplicates {}, ERP total != Magento total {}{}",
            self.storefront_seen,
            self.storefront_created,
            self.storefront_acknowledged,
            self.storefront_lost.len(),
            self.storefront_unexpected.len(),
            self.storefront_duplicates.len(),
            self.storefront_wrong_totals.len(),
            list(
                &[
                    self.storefront_lost.as_slice(),
                    &self.storefront_unexpected,
                    &self.storefront_duplicates,
                    &self.storefront_wrong_totals,
                ]
                .concat()
            )
        );
        println!("  ERP orders entered for Magento     {:>7}", self.erp_origin_entered);
        println!("  created in Magento (once)          {:>7}", self.erp_origin_created);
        println!(
            "  ERP orders lost                    {:>7}{}",
            self.erp_origin_lost.len(),
            list(&self.erp_origin_lost)
        );
        println!(
            "  Magento duplicates                 {:>7}{}",
            self.erp_origin_duplicates.len(),
            list(&self.erp_origin_duplicates)
        );
        println!(
            "  unexpected in Magento              {:>7}{}",
            self.erp_origin_unexpected.len(),
            list(&self.erp_origin_unexpected)
        );
        println!(
            "  Magento total != ERP total         {:>7}{}",
            self.erp_origin_wrong_totals.len(),
            list(&self.erp_origin_wrong_totals)
        );
        println!("  ERP shipments exported to ShipStation {:>4}", self.export_expected);
        println!("  ShipStation orders (once each)     {:>7}", self.export_created);
        println!("  exports lost                       {:>7}{}", self.export_lost.len(), list(&self.export_lost));
        println!(
            "  ShipStation duplicates             {:>7}{}",
            self.export_duplicates.len(),
            list(&self.export_duplicates)
        );
        println!("  labels back on the ERP shipment    {:>7}", self.labels_back);
        println!("  labels missing on the ERP          {:>7}{}", self.labels_missing.len(), list(&self.labels_missing));
        println!(
            "  P&L charges checked (SC orders)    {:>7} ({} follow-up passes)",
            self.charges_checked, self.charge_passes
        );
        println!("  ERP charges != Sellercloud P&L     {:>7}{}", self.charges_wrong.len(), list(&self.charges_wrong));
        println!("  ERP notes written (SC orders)      {:>7}", self.notes_written);
        println!("  on the channel order once          {:>7}", self.notes_once);
        println!("  notes lost                         {:>7}{}", self.notes_lost.len(), list(&self.notes_lost));
        println!(
            "  notes duplicated                   {:>7}{}",
            self.notes_duplicates.len(),
            list(&self.notes_duplicates)
        );
        println!(
            "  notes on other orders              {:>7}{}",
            self.notes_unexpected.len(),
            list(&self.notes_unexpected)
        );
        println!(
            "  stock: Magento qty != Acumatica available {:>2} of {} items both sell ({} ERP items not sold there; \
             {} adjusted during the run, {} Magento stock writes, {} catch-up polls at the end){}",
            self.stock_differing.len(),
            self.stock_compared,
            self.stock_not_sold,
            self.stock_adjusted,
            self.stock_writes,
            self.stock_passes,
            list(&self.stock_differing)
        );
        println!(
            "  left in the DLQs                   {:>7} (poison injected: {})",
            self.dlq.len(),
            self.poison_injected
        );
        for entry in self.dlq.iter().take(10) {
            println!("    {}", entry.what);
        }
        let kills: Vec<String> = self.kills.iter().map(|(p, n)| format!("{p:?} {n}")).collect();
        println!("  invocations killed                 {}", kills.join(", "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean() -> Accounting {
        Accounting {
            seen: 3,
            created: 3,
            acknowledged: 3,
            shipped: 3,
            tracking_on_channel: 3,
            poison_injected: 1,
            dlq: vec![DlqEntry { poison: true, what: "orders DLQ: poison".into() }],
            ..Accounting::default()
        }
    }

    #[test]
    fn the_verdict_passes_only_an_exact_accounting() {
        assert!(clean().ok());
        let mut lost = clean();
        lost.lost.push("SC-1".into());
        assert!(!lost.ok());
        let mut twice = clean();
        twice.tracking_duplicates.push("Sellercloud 1Z ×2".into());
        assert!(!twice.ok());
        let mut unacknowledged = clean();
        unacknowledged.acknowledged = 2;
        assert!(!unacknowledged.ok());
        let mut twice_in_magento = clean();
        twice_in_magento.erp_origin_duplicates.push("SO/SO000001 ×2".into());
        assert!(!twice_in_magento.ok());
        let mut not_in_magento = clean();
        not_in_magento.erp_origin_entered = 1;
        assert!(!not_in_magento.ok(), "an entered ERP order must be created in Magento");
        let mut storefront_twice = clean();
        storefront_twice.storefront_duplicates.push("MG-3001 ×2".into());
        assert!(!storefront_twice.ok());
        let mut storefront_unacknowledged = clean();
        storefront_unacknowledged.storefront_seen = 1;
        storefront_unacknowledged.storefront_created = 1;
        assert!(!storefront_unacknowledged.ok(), "an imported storefront order must carry its comment");
        let mut stock_off = clean();
        stock_off.stock_differing.push("WATER2809: magento 98 != acumatica 97".into());
        assert!(!stock_off.ok());
        let mut off_by_a_cent = clean();
        off_by_a_cent.wrong_totals.push("BC-7: 10.00 != 10.01".into());
        assert!(!off_by_a_cent.ok());
    }

    #[test]
    fn a_real_message_in_the_dlq_fails_even_when_the_count_matches_the_poison() {
        let mut swapped = clean();
        swapped.dlq = vec![DlqEntry { poison: false, what: "orders DLQ: \"order\" message (not poison)".into() }];
        assert_eq!(swapped.dlq.len(), swapped.poison_injected);
        assert!(!swapped.ok());
        let mut poison_missing = clean();
        poison_missing.dlq.clear();
        assert!(!poison_missing.ok(), "the poison must have reached the DLQ");
    }
}
