//! Customer accounts into the ERP (`CustomerSource`, vendor-apis-erp-out.md A.3): the customer
//! search by `updated_at` watermark (less the import's overlap), keyset paging on the id like the
//! order listing (past the last page Magento repeats it), on the connection's website.

use super::client::{rejected, MagentoClient};
use super::orders_in::{address, clean, parse_time, Position};
use super::wire::{AddressWire, CustomerAddressWire, StoreCustomerSearch, StoreCustomerWire};
use super::VENDOR;
use crate::connectors::ConnectorError;
use crate::http::Idempotency;
use crate::model::{ChannelCustomer, ConnectionId, Customer};
use crate::ports::{CustomerPage, CustomerSource, PageToken};
use async_trait::async_trait;

/// The canonical account: the default billing address (else the first) is its address.
pub(super) fn to_customer(wire: &StoreCustomerWire, connection: &ConnectionId) -> Result<ChannelCustomer, String> {
    let id = wire.id.ok_or("customer without id")?;
    let updated = wire.updated_at.as_deref().ok_or_else(|| format!("customer {id}: updated_at is missing"))?;
    let updated_at = parse_time(updated)
        .ok_or_else(|| format!("customer {id}: updated_at {updated:?} is not YYYY-MM-DD HH:MM:SS"))?;
    let billing = wire
        .addresses
        .iter()
        .find(|a| {
            a.default_billing == Some(true) || (a.id.is_some() && a.id.map(|i| i.to_string()) == wire.default_billing)
        })
        .or_else(|| wire.addresses.first());
    let address = billing.map(|a| address(&address_wire(a), wire.email.as_deref()));
    let name = [clean(&wire.firstname), clean(&wire.lastname)].into_iter().flatten().collect::<Vec<_>>().join(" ");
    Ok(ChannelCustomer {
        connection: connection.clone(),
        channel_customer_id: id.to_string(),
        customer: Customer {
            channel_customer_id: Some(id.to_string()),
            email: clean(&wire.email),
            name,
            company: address.as_ref().and_then(|a| a.company.clone()),
            phone: address.as_ref().and_then(|a| a.phone.clone()),
        },
        address,
        updated_at,
    })
}

fn address_wire(a: &CustomerAddressWire) -> AddressWire {
    AddressWire {
        firstname: a.firstname.clone(),
        lastname: a.lastname.clone(),
        company: a.company.clone(),
        street: a.street.clone(),
        city: a.city.clone(),
        region: a.region.as_ref().and_then(|r| r.region.clone()),
        region_code: a.region.as_ref().and_then(|r| r.region_code.clone()),
        postcode: a.postcode.clone(),
        country_id: a.country_id.clone(),
        telephone: a.telephone.clone(),
        email: None,
    }
}

#[async_trait]
impl CustomerSource for MagentoClient {
    fn connection(&self) -> &ConnectionId {
        MagentoClient::connection(self)
    }

    /// `GET /V1/customers/search` with `updated_at gteq since`, `entity_id gt after`,
    /// `website_id eq`, sorted by `entity_id` ASC, `currentPage=1`.
    async fn list_changed_customers(&self, page: Option<&PageToken>) -> Result<CustomerPage, ConnectorError> {
        const OP: &str = "list customers";
        let import = self
            .config()
            .import
            .as_ref()
            .ok_or_else(|| rejected(OP, "the connection has no [connection.settings.import]".into()))?;
        let position = match page {
            None => Position::default(),
            Some(token) => Position::parse(token).ok_or_else(|| {
                rejected(
                    OP,
                    format!(
                        "page token {:?} is not one this client issued; clear the connection's customers cursor",
                        token.0
                    ),
                )
            })?,
        };
        let website = self.config().website_id.to_string();
        let query = position.search(&[("website_id", "eq", website.as_str())], self.config().page_size);
        let url = self.url("customers/search");
        let found: StoreCustomerSearch =
            self.call(OP, Idempotency::Safe, |c| c.get(&url).query(&query)).await?.json(VENDOR, OP)?;
        let connection = MagentoClient::connection(self);
        let (mut customers, mut last, mut high, mut fresh) = (Vec::new(), position.after, position.high, 0usize);
        for wire in &found.items {
            let Some(id) = wire.id.filter(|i| *i > position.after) else { continue };
            fresh += 1;
            last = last.max(id);
            high = high.max(wire.updated_at.as_deref().and_then(parse_time));
            match to_customer(wire, connection) {
                Ok(c) => customers.push(c),
                Err(detail) => {
                    tracing::warn!(connection = %connection, customer = id, %detail, "Customer account skipped: it cannot be read.")
                }
            }
        }
        let (next, restart) =
            position.after_page(last, high, fresh, found.total_count, self.config().page_size, import.overlap_minutes);
        Ok(CustomerPage { customers, next, restart })
    }
}
