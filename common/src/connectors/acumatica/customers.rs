//! Customer accounts from a channel (`ErpCustomerWrites`, vendor-apis-erp-out.md B.5): `PUT
//! Customer` with `If-None-Match: *` to create (never overwriting one that exists) and `If-Match: *`
//! to update (never re-creating one deleted meanwhile). Name, class, and the main contact's email,
//! phone and address.

use async_trait::async_trait;
use tracing::info;

use super::client::AcumaticaClient;
use super::mapper::customer_body;
use super::VENDOR;
use crate::connectors::ConnectorError;
use crate::http::Idempotency;
use crate::model::{Address, ChannelCustomer, ErpCustomerId};
use crate::ports::ErpCustomerWrites;

#[async_trait]
impl ErpCustomerWrites for AcumaticaClient {
    async fn create_customer_record(
        &self,
        id: &ErpCustomerId,
        customer: &ChannelCustomer,
        class: Option<&str>,
    ) -> Result<(), ConnectorError> {
        const OP: &str = "create customer";
        let class = class.or(self.config.customer_class.as_deref());
        let body =
            customer_body(id, &customer.customer, customer.address.as_ref().unwrap_or(&Address::default()), class);
        let url = self.entity_url(&["Customer"])?;
        let result = self
            .authed(OP, Idempotency::Safe, |c| {
                c.put(url.clone()).query(&[("$select", "CustomerID")]).header("If-None-Match", "*").json(&body)
            })
            .await;
        match result {
            Ok(_) => {
                info!(customer_id = %id, "Customer created in Acumatica.");
                Ok(())
            }
            // Created by an earlier attempt whose answer was lost: the flow updates it next time.
            Err(ConnectorError::Status { status: 412, .. }) => Ok(()),
            Err(ConnectorError::Status { status: 400, message, .. }) => {
                Err(ConnectorError::Rejected { vendor: VENDOR, operation: OP, message })
            }
            Err(e) => Err(e),
        }
    }

    async fn update_customer_record(
        &self,
        id: &ErpCustomerId,
        customer: &ChannelCustomer,
        class: Option<&str>,
    ) -> Result<(), ConnectorError> {
        let body =
            customer_body(id, &customer.customer, customer.address.as_ref().unwrap_or(&Address::default()), class);
        self.update_entity("update customer", "Customer", &format!("customer {id}"), &body, "CustomerID").await?;
        info!(customer_id = %id, "Customer updated in Acumatica.");
        Ok(())
    }
}

/// Sales-order statuses a changed channel order may still update: nothing has been picked,
/// shipped or invoiced yet (B.1).
const REVISABLE: &[&str] = &["Open", "On Hold", "Back Order", "Credit Hold", "Pending Approval", "Pending Processing"];

impl AcumaticaClient {
    /// `GET SalesOrder/{type}/{nbr}?$expand=Details,TaxDetails` (its status and row ids), then
    /// `PUT SalesOrder` with `If-Match: *`: the draft's header, addresses, Ship Via and note, its
    /// lines and taxes replacing the old rows (old rows `delete: true`). Payments are left as
    /// they are.
    pub(super) async fn revise_order(
        &self,
        erp: &crate::model::ErpOrderRef,
        draft: &crate::mapping::SalesOrderDraft,
    ) -> Result<Result<(), String>, ConnectorError> {
        const OP: &str = "update sales order";
        let url = self.entity_url(&["SalesOrder", erp.order_type.as_str(), erp.order_nbr.as_str()])?;
        let current: serde_json::Value = self
            .authed("read sales order", Idempotency::Safe, |c| {
                c.get(url.clone()).query(&[("$expand", "Details,TaxDetails")])
            })
            .await?
            .json(VENDOR, "read sales order")?;
        let status = current["Status"]["value"].as_str().unwrap_or("").to_owned();
        if !REVISABLE.iter().any(|s| s.eq_ignore_ascii_case(&status)) {
            return Ok(Err(format!(
                "ERP order {erp} is {status}: changes made in the store after the import were not applied"
            )));
        }
        let mut body = super::mapper::sales_order_body(draft);
        let old_rows = |name: &str| -> Vec<serde_json::Value> {
            current[name]
                .as_array()
                .map(|rows| {
                    rows.iter()
                        .filter_map(|r| r["id"].as_str())
                        .map(|id| serde_json::json!({ "id": id, "delete": true }))
                        .collect()
                })
                .unwrap_or_default()
        };
        if let Some(obj) = body.as_object_mut() {
            obj.insert("OrderNbr".into(), serde_json::json!({ "value": erp.order_nbr.as_str() }));
            obj.insert("OrderType".into(), serde_json::json!({ "value": erp.order_type.as_str() }));
            obj.remove("Payments");
            for name in ["Details", "TaxDetails"] {
                let mut rows = old_rows(name);
                if let Some(serde_json::Value::Array(new)) = obj.remove(name) {
                    rows.extend(new);
                }
                obj.insert(name.into(), serde_json::Value::Array(rows));
            }
        }
        let put = self.entity_url(&["SalesOrder"])?;
        let result = self
            .authed(OP, Idempotency::Safe, |c| {
                c.put(put.clone()).query(&[("$expand", "Details")]).header("If-Match", "*").json(&body)
            })
            .await;
        super::client::entity_written(OP, result)?;
        info!(erp = %erp, import_id = %draft.import_id, "Sales order updated after a change in the channel.");
        Ok(Ok(()))
    }
}
