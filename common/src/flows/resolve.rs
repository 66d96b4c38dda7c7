//! Resolving an order's customer and items in the ERP (lookups and, where the mapping allows, a
//! customer create), so that building the draft afterwards is pure.

use crate::mapping::{kind_name, Mapping, OrderMappingError, Problem};
use crate::model::{ErpCustomerId, ErpItemId, Order};
use crate::ports::{CustomerLookup, OrderSink};

/// The order's ERP customer as found (or the guest), or the id the import would create it under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerMatch {
    Existing(ErpCustomerId),
    WouldCreate(ErpCustomerId),
}

/// Finds the ERP customer for the order by its derived id or its email (one ERP request); creates
/// one under the derived id if allowed. The derived id makes a retried create find its customer.
pub async fn resolve_customer<S: OrderSink + ?Sized>(
    mapping: &Mapping,
    order: &Order,
    sink: &S,
) -> Result<ErpCustomerId, OrderMappingError> {
    match match_customer(mapping, order, sink).await? {
        CustomerMatch::Existing(id) => Ok(id),
        CustomerMatch::WouldCreate(derived) => sink
            .create_customer(&derived, &order.customer, order, mapping.file.customers.customer_class.as_deref())
            .await
            .map_err(OrderMappingError::Lookup),
    }
}

/// The customer `customers.by_source` gives every order of the order's source (a marketplace's
/// own ERP customer), if any: no lookup, no create, no buyer binding.
pub fn source_customer(mapping: &Mapping, order: &Order) -> Result<Option<ErpCustomerId>, OrderMappingError> {
    let Some(id) = mapping.file.customers.by_source.get(&order.order_source.0) else { return Ok(None) };
    ErpCustomerId::parse(id.get_ref().clone()).map(Some).map_err(|e| {
        OrderMappingError::Unmapped(vec![Problem {
            field: format!("customers.by_source.{:?}", order.order_source.0),
            message: e.to_string(),
        }])
    })
}

/// The read-only half of [`resolve_customer`] (the mapping dry run uses it alone): the lookup,
/// the guest, or the id a create would use; nothing is written.
pub async fn match_customer<S: OrderSink + ?Sized>(
    mapping: &Mapping,
    order: &Order,
    sink: &S,
) -> Result<CustomerMatch, OrderMappingError> {
    if let Some(id) = source_customer(mapping, order)? {
        return Ok(CustomerMatch::Existing(id));
    }
    let rules = &mapping.file.customers;
    let derived = sink.derive_customer_id(rules.id_prefix.get_ref(), &order.customer);
    if let Some(lookup) = customer_lookup(derived.as_ref(), order) {
        if let Some(found) = sink.find_customer(lookup).await.map_err(OrderMappingError::Lookup)? {
            return Ok(CustomerMatch::Existing(found));
        }
    }
    let Some(derived) = derived else {
        return match &rules.guest_customer {
            Some(guest) => ErpCustomerId::parse(guest.get_ref().clone()).map(CustomerMatch::Existing).map_err(|e| {
                OrderMappingError::Unmapped(vec![Problem {
                    field: "customers.guest_customer".into(),
                    message: e.to_string(),
                }])
            }),
            None => Err(OrderMappingError::Unmapped(vec![Problem {
                field: "customer".into(),
                message: format!(
                    "the order has no customer id and no email; set customers.guest_customer in {}",
                    mapping.path
                ),
            }])),
        };
    };
    if !rules.create_missing {
        return Err(OrderMappingError::Unmapped(vec![Problem {
            field: format!("customer {:?}", order.customer.email.as_deref().unwrap_or(&order.customer.name)),
            message: format!("no matching ERP customer and customers.create_missing is false in {}", mapping.path),
        }]));
    }
    Ok(CustomerMatch::WouldCreate(derived))
}

/// How the order's buyer is looked up in the ERP: by the id Orderbridge derives for it and by
/// its email, in one request; None for a buyer with neither (the guest customer).
pub fn customer_lookup<'a>(derived: Option<&'a ErpCustomerId>, order: &'a Order) -> Option<CustomerLookup<'a>> {
    let email = order.customer.email.as_deref().map(str::trim).filter(|e| e.contains('@'));
    match (derived, email) {
        (Some(id), Some(email)) => Some(CustomerLookup::IdOrEmail { id: id.as_str(), email }),
        (Some(id), None) => Some(CustomerLookup::ChannelId(id.as_str())),
        (None, Some(email)) => Some(CustomerLookup::Email(email)),
        (None, None) => None,
    }
}

/// The key an order's buyer is bound under (`buyer#` and the SHA-256 of the derived customer id,
/// else of the email): the buyer's next order finds its ERP customer there, with no ERP call.
/// Hashed because an email is personal data and the state table is not a place README lists for
/// it. None for a buyer with neither (the guest customer).
pub fn buyer_key<S: OrderSink + ?Sized>(mapping: &Mapping, order: &Order, sink: &S) -> Option<String> {
    use sha2::Digest;
    let derived = sink.derive_customer_id(mapping.file.customers.id_prefix.get_ref(), &order.customer);
    let email = order.customer.email.as_deref().map(str::trim).filter(|e| e.contains('@'));
    let basis = match (derived, email) {
        (Some(id), _) => format!("id:{id}"),
        (None, Some(email)) => format!("email:{}", email.to_ascii_lowercase()),
        (None, None) => return None,
    };
    let digest = sha2::Sha256::digest(basis.as_bytes());
    Some(format!("buyer#{}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>()))
}

/// Resolves every line to an ERP item by the mapping's identifier priority (after substitutions).
/// Lines that match nothing are reported together.
pub async fn resolve_lines<S: OrderSink + ?Sized>(
    mapping: &Mapping,
    order: &Order,
    sink: &S,
) -> Result<Vec<ErpItemId>, OrderMappingError> {
    let rules = &mapping.file.items;
    let mut resolved = Vec::with_capacity(order.lines.len());
    let mut problems = Vec::new();
    for line in &order.lines {
        if let Some(sub) = line.identifiers.sku.as_deref().and_then(|sku| rules.substitutions.get(sku)) {
            match ErpItemId::parse(sub.get_ref().clone()) {
                Ok(id) => resolved.push(id),
                Err(e) => problems.push(Problem { field: "items.substitutions".into(), message: e.to_string() }),
            }
            continue;
        }
        let mut found = None;
        let mut tried = Vec::new();
        for kind in rules.identifier_priority.get_ref() {
            let Some(value) = line.identifiers.get(*kind) else { continue };
            tried.push(format!("{} {value:?}", kind_name(*kind)));
            if let Some(id) = sink.resolve_item(*kind, value).await.map_err(OrderMappingError::Lookup)? {
                found = Some(id);
                break;
            }
        }
        match found {
            Some(id) => resolved.push(id),
            None => problems.push(Problem {
                field: format!("line {:?}", line.channel_line_id),
                message: if tried.is_empty() {
                    format!("carries none of the identifiers in items.identifier_priority ({})", mapping.path)
                } else {
                    format!(
                        "no ERP item matches {}; add the item in the ERP or a substitution under [items.substitutions] in {}",
                        tried.join(", "),
                        mapping.path
                    )
                },
            }),
        }
    }
    if problems.is_empty() {
        Ok(resolved)
    } else {
        Err(OrderMappingError::Unmapped(problems))
    }
}
