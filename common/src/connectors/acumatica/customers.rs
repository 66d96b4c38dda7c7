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
